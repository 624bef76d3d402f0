// Package templates holds every text/template that cisecs renders: the host
// script the provisioner runs, and (as they arrive) the Packer template, the
// gate's probe and the CI workflow. Packages that render parse from FS once,
// at package level, and keep their render functions pure.
package templates

import "embed"

// FS holds the template files, by their names in this directory.
//
//go:embed *.tmpl
var FS embed.FS
