// Package ext stands in for Traefik's dynamic/ext module, which Traefik's
// own build takes from a folder of its repository that its module zip
// leaves out. Traefik embeds these types in its dynamic configuration as
// extension points for other editions; in the open-source edition they
// are empty, as here.
package ext

// HTTP is embedded in Traefik's dynamic.HTTP.
type HTTP struct{}

// Router is embedded in Traefik's dynamic.Router.
type Router struct{}
