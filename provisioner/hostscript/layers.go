package hostscript

import "fmt"

// Layers are the settings of the layers step, which makes a CIS-hardened
// host's other layers (SELinux, Docker's storage, auditd, kernel module
// rules, AppArmor, the build user's sudo, time sources) fit for ECS, or
// refuses with the reason (templates/layers/). The zero value changes
// only what needs no decision: it refuses a host that needs one.
type Layers struct {
	// DockerVolume gives /var/lib/docker a volume of its own: the step
	// formats it (ext4, label cisecs-docker) if it is empty, and mounts it
	// by label with nodev,nosuid. Needed where the base's /var is a small
	// partition of its own (the step refuses such a host without it).
	DockerVolume Volume
	// AuditVolume gives /var/log/audit a volume of its own (label
	// cisecs-audit, nodev,nosuid,noexec), of the size the audit
	// retention needs: CIS keeps every audit log and halts the host when
	// the partition fills.
	AuditVolume Volume
	// AllowOverlayfs accepts the deviation from CIS Level 2 "Ensure
	// overlayfs kernel module is not available": the step comments out
	// the rules that stop the overlay module, which Docker's overlay2
	// storage driver needs, and reports it. Without it such a host is
	// refused.
	AllowOverlayfs bool
}

// Volume is a data volume the layers step formats and mounts.
type Volume struct {
	// SizeGB is its size in GiB; 0 means no volume. The step finds the
	// volume by Device, else by its label (an earlier run's), else as the
	// one empty whole disk of exactly this size (Nitro instances name EBS
	// volumes /dev/nvmeXn1 whatever the block device mapping says).
	SizeGB int
	// Device is the device name it is attached as (e.g. /dev/xvdf);
	// optional.
	Device string
}

// SudoDropIn is the sudoers drop-in a build gives its login user where CIS
// Level 2 takes NOPASSWD away; the cleanup step removes it before the
// snapshot (templates/layers/sudo.sh.tmpl spells the same path).
const SudoDropIn = "/etc/sudoers.d/90-cisecs-build"

// MaxVolumeGB is the largest data volume EBS offers (gp3: 16 TiB).
const MaxVolumeGB = 16384

// layerVars is what templates/layers/ is filled with.
type layerVars struct {
	DockerVolumeGB     int
	DockerVolumeDevice string
	AuditVolumeGB      int
	AuditVolumeDevice  string
	// AllowOverlayfs is "true" or empty, as the script tests it.
	AllowOverlayfs string
}

func (l Layers) vars() layerVars {
	v := layerVars{
		DockerVolumeGB:     l.DockerVolume.SizeGB,
		DockerVolumeDevice: l.DockerVolume.Device,
		AuditVolumeGB:      l.AuditVolume.SizeGB,
		AuditVolumeDevice:  l.AuditVolume.Device,
	}
	if l.AllowOverlayfs {
		v.AllowOverlayfs = "true"
	}
	return v
}

func (l Layers) validate() []error {
	var errs []error
	for _, c := range []struct {
		name string
		v    Volume
	}{{"docker_volume", l.DockerVolume}, {"audit_volume", l.AuditVolume}} {
		if c.v.SizeGB < 0 || c.v.SizeGB > MaxVolumeGB {
			errs = append(errs, fmt.Errorf("%s: size_gb %d is not between 1 and %d (0: no volume)", c.name, c.v.SizeGB, MaxVolumeGB))
		}
		if c.v.Device != "" && !absPathRE.MatchString(c.v.Device) {
			errs = append(errs, fmt.Errorf("%s: device_name %q is not a device path like /dev/xvdf", c.name, c.v.Device))
		}
		if c.v.Device != "" && c.v.SizeGB == 0 {
			errs = append(errs, fmt.Errorf("%s: device_name %q without size_gb", c.name, c.v.Device))
		}
	}
	if d := l.DockerVolume.Device; d != "" && d == l.AuditVolume.Device {
		errs = append(errs, fmt.Errorf("audit_volume: device_name %q is docker_volume's too", d))
	}
	return errs
}
