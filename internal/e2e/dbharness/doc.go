// Package dbharness starts the real database servers that skiff's
// --datastore-endpoint is tested and measured against: PostgreSQL, MariaDB
// and etcd from their Debian packages (scripts/deps --test installs them).
// Each runs in its own temp dir, on free loopback ports, as the user its
// package made for it, with a user, password and database for skiff, and is
// stopped and removed whole by Stop.
//
// The Start functions take no *testing.T so that scripts/bench/store can use
// them too; the T-taking wrappers register the cleanup and, when the test
// failed, log the tail of the server's log.
package dbharness
