// Package fsutil writes files the way skiff must: atomically, so that a crash
// or a full disk never leaves a half-written file behind.
package fsutil
