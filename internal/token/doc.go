// Package token handles the cluster join token, in the format k3s uses so
// that k3s users and tooling feel at home:
//
//	K10<sha256 hex of the server CA certificate file>::<user>:<secret>
//
// The CA hash lets a joining node pin the server's CA before it trusts
// anything the server says. A "short" token is just <secret> or
// <user>:<secret>; it authenticates but pins nothing.
//
// The secret is never put in an error message, since those end up in logs.
package token
