// Package install tests install.sh the way a user runs it, into a
// throwaway root so that the machine running the tests is left alone.
package install
