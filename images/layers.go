package images

import (
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/cisecs/cisecs/provisioner/hostscript"
)

// DataVolume is an EBS volume of its own for one directory, attached to
// the build instance and kept in the AMI: the host script's layers step
// formats and mounts it (hostscript.Layers).
//
//	docker_volume {          # /var/lib/docker; needed where the CIS base's /var is small
//	  size_gb     = 100      # required: 1 to 16384
//	  device_name = "/dev/sdf"  # default /dev/sdf (audit_volume: /dev/sdg)
//	}
//	audit_volume { size_gb = 20 }  # /var/log/audit, sized for the audit retention
type DataVolume struct {
	// SizeGB is the volume's size in GiB; 0 means no volume.
	SizeGB int
	// DeviceName is the device it is attached as.
	DeviceName string
}

// Default device names of the data volumes: /dev/sd[f-p] is what EC2
// recommends for EBS data volumes on Linux.
const (
	DefaultDockerVolumeDevice = "/dev/sdf"
	DefaultAuditVolumeDevice  = "/dev/sdg"
)

// dataVolumeAttrs are a data volume block's settings.
var dataVolumeAttrs = []string{"size_gb", "device_name"}

// dataVolume reads a docker_volume or audit_volume block.
func (d *decoder) dataVolume(b *hclsyntax.Block, name, device string) DataVolume {
	v := DataVolume{DeviceName: device}
	c := d.content(b.Body, name, dataVolumeAttrs, nil)
	if a := c.attrs["size_gb"]; a != nil {
		if n, ok := d.integer(a, name+".size_gb"); ok {
			if n < 1 || n > hostscript.MaxVolumeGB {
				d.addf(a.Expr.Range().Start, "%s.size_gb: %d is outside 1 to %d", name, n, hostscript.MaxVolumeGB)
			}
			v.SizeGB = n
		}
	} else {
		d.addf(b.TypeRange.Start, "%s.size_gb: required attribute is missing: the volume's size in GiB, such as 100", name)
	}
	if a := c.attrs["device_name"]; a != nil {
		if s, ok := d.str(a, name+".device_name"); ok {
			if !deviceRE.MatchString(s) {
				d.addf(a.Expr.Range().Start, "%s.device_name: %q is not a device name such as /dev/sdf", name, s)
			}
			v.DeviceName = s
		}
	}
	return v
}

// dataVolumes reads the image's docker_volume and audit_volume blocks.
func (d *decoder) dataVolumes(blocks map[string]*hclsyntax.Block, img *Image) {
	if b := blocks["docker_volume"]; b != nil {
		img.DockerVolume = d.dataVolume(b, "docker_volume", DefaultDockerVolumeDevice)
	}
	if b := blocks["audit_volume"]; b != nil {
		img.AuditVolume = d.dataVolume(b, "audit_volume", DefaultAuditVolumeDevice)
		if img.DockerVolume.SizeGB > 0 && img.AuditVolume.DeviceName == img.DockerVolume.DeviceName {
			d.addf(b.TypeRange.Start, "audit_volume.device_name: %q is docker_volume's too", img.AuditVolume.DeviceName)
		}
	}
	for _, c := range []struct {
		name string
		v    DataVolume
	}{{"docker_volume", img.DockerVolume}, {"audit_volume", img.AuditVolume}} {
		if b := blocks[c.name]; b != nil && c.v.DeviceName == img.Volume.DeviceName {
			d.addf(b.TypeRange.Start, "%s.device_name: %q is the root volume's", c.name, c.v.DeviceName)
		}
	}
}

// Layers returns the host script's layers settings of img.
func (img Image) Layers() hostscript.Layers {
	return hostscript.Layers{
		DockerVolume:   hostscript.Volume{SizeGB: img.DockerVolume.SizeGB, Device: img.DockerVolume.DeviceName},
		AuditVolume:    hostscript.Volume{SizeGB: img.AuditVolume.SizeGB, Device: img.AuditVolume.DeviceName},
		AllowOverlayfs: img.ECS.AllowOverlayfs,
	}
}
