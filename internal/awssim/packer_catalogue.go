package awssim

import "time"

// MarketplaceAccount is the account that owns AWS Marketplace AMIs (its
// owner alias is aws-marketplace).
const MarketplaceAccount = "679593333241"

// CISImages is a catalogue of CIS Hardened Images as AWS Marketplace
// lists them, for builds to find with an amazon-ami data source: for each
// of Amazon Linux 2023 (x86_64 and arm64), Amazon Linux 2, RHEL 9 and
// Ubuntu 22.04, the current release and an older one, and a deprecated
// release that is newer than both (DescribeImages leaves it out unless
// deprecated images are asked for). The root device is the OS's (Amazon
// Linux /dev/xvda; RHEL and Ubuntu /dev/sda1), the root snapshot the
// size CIS publishes it at. Names, ids and product codes are made up in
// the shape of the real ones; the OS titles in the names are CIS's.
func CISImages() []Image {
	type base struct {
		key, title, arch, device string
		sizeGB                   int
		code                     string
	}
	bases := []base{
		{"a2301", "CIS Amazon Linux 2023 Benchmark - Level 1", "x86_64", "/dev/xvda", 8, "awssima23x86cisl1prod"},
		{"a2302", "CIS Amazon Linux 2023 Benchmark - Level 1", "arm64", "/dev/xvda", 8, "awssima23armcisl1prod"},
		{"a2001", "CIS Amazon Linux 2 Benchmark - Level 1", "x86_64", "/dev/xvda", 8, "awssima2x86cisl1prodx"},
		{"e9001", "CIS Red Hat Enterprise Linux 9 Benchmark - Level 1", "x86_64", "/dev/sda1", 10, "awssimr9x86cisl1prodx"},
		{"b2201", "CIS Ubuntu Linux 22.04 LTS Benchmark - Level 1", "x86_64", "/dev/sda1", 8, "awssimu22x86cisl1prod"},
	}
	releases := []struct {
		suffix     string
		created    time.Time
		deprecated time.Time
	}{
		{"v05", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), time.Time{}},
		{"v06", time.Date(2026, 9, 14, 10, 0, 0, 0, time.UTC), time.Time{}},
		{"v07", time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
	}
	var out []Image
	for _, b := range bases {
		for n, r := range releases {
			id := "ami-0" + b.key + "cafe" + string(rune('0'+n)) + "0000000"
			out = append(out, Image{
				ID:             id[:21],
				Name:           b.title + " - " + r.suffix + " -prod-" + b.key,
				Owner:          MarketplaceAccount,
				OwnerAlias:     "aws-marketplace",
				Architecture:   b.arch,
				ProductCode:    b.code,
				Created:        r.created,
				Deprecated:     r.deprecated,
				RootDeviceName: b.device,
				BlockDevices: []BlockDevice{{
					DeviceName: b.device, SnapshotID: "snap-0" + b.key + "cafe" + string(rune('0'+n)) + "000000",
					VolumeType: "gp3", SizeGB: b.sizeGB, DeleteOnTermination: true,
				}},
			})
		}
	}
	return out
}
