// Package version holds the version the cisecs Packer plugin reports.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

// Version is the plugin's version number.
const Version = "0.1.0"

// Prerelease marks a pre-release such as "dev"; empty for a release.
const Prerelease = ""

// PluginVersion is the plugin's version as the plugin set reports it.
var PluginVersion = version.NewPluginVersion(Version, Prerelease, "")
