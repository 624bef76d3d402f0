package builder

import "github.com/cisecs/cisecs/images"

// dataVolume is a data volume as packer.pkr.hcl.tmpl renders it: a launch
// block device mapping, and the provisioner's settings of that name.
type dataVolume struct {
	// Setting is the provisioner's prefix: docker_volume, audit_volume.
	Setting string
	// Purpose and Label are for the template's comment.
	Purpose, Label string
	DeviceName     string
	SizeGB         int
}

// dataVolumes returns img's data volumes, in a fixed order.
func dataVolumes(img images.Image) []dataVolume {
	var out []dataVolume
	if v := img.DockerVolume; v.SizeGB > 0 {
		out = append(out, dataVolume{"docker_volume", "/var/lib/docker", "cisecs-docker", v.DeviceName, v.SizeGB})
	}
	if v := img.AuditVolume; v.SizeGB > 0 {
		out = append(out, dataVolume{"audit_volume", "/var/log/audit", "cisecs-audit", v.DeviceName, v.SizeGB})
	}
	return out
}
