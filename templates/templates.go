// Package templates holds every text/template that cisecs renders: the host
// script the provisioner runs, and (as they arrive) the Packer template, the
// gate's probe and the CI workflow. Packages that render parse from FS once,
// at package level, and keep their render functions pure.
package templates

import (
	"embed"
	"strings"
)

// FS holds the template files, by their names in this directory.
//
//go:embed *.tmpl firewall/*.tmpl layers/*.tmpl
var FS embed.FS

// ShellQuote quotes s as one word for a POSIX shell (bash included), in
// single quotes. Templates get it as the function shq.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
