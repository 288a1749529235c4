// Package component is the small lifecycle every part of a skiff role shares:
// a part starts, tells when it is ready, and stops. A role is an ordered list
// of parts; Run starts them in order, waits for each to be ready, and stops
// them in reverse order when the context ends or a part fails.
package component
