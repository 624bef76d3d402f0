// Command packer-plugin-cisecs is the cisecs Packer plugin. Installed as
// github.com/cisecs/cisecs, it provides the provisioner "cisecs".
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/cisecs/cisecs/provisioner"
	"github.com/cisecs/cisecs/provisioner/version"
)

func main() {
	pps := plugin.NewSet()
	pps.RegisterProvisioner(plugin.DEFAULT_NAME, new(provisioner.Provisioner))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
