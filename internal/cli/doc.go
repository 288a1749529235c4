// Package cli is skiff's command line: the commands, their flags, and the
// binding of each flag to its SKIFF_* environment variable and to the config
// file. It holds no business logic; each command hands a filled-in config to
// its role.
package cli
