// The module github.com/abbot/go-http-auth v0.4.0 has no go.mod of its
// own; this one, with skiff's additions beside it, makes the copy that
// scripts/traefik/prepare assembles a module (see there).
module github.com/abbot/go-http-auth

go 1.24.0
