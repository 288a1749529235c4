// Package server is the server role: it prepares the data dir, certificates
// and token, then runs the datastore, the supervisor and the control-plane
// components as one ordered list of parts (see Parts in server.go).
package server
