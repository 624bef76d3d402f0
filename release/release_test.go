package release_test

import (
	"strings"
	"testing"

	"github.com/cisecs/cisecs/release"
)

// TestForms: each form takes what AWS (or the gate) makes and refuses its
// near misses.
func TestForms(t *testing.T) {
	for _, tc := range []struct {
		name      string
		is        func(string) bool
		good, bad []string
	}{
		{"region", release.IsRegion,
			[]string{"eu-west-1", "us-gov-west-1", "ap-southeast-4", "cn-north-1"},
			[]string{"", "EU-WEST-1", "eu_west_1", "eu-west", "useast1", "eu-west-1a"}},
		{"image id", release.IsImageID,
			[]string{"ami-0123abcd", "ami-0123456789abcdef0"},
			[]string{"", "ami-0123", "ami-0123456789ABCDEF0", "ami-0123456789abcdef", "snap-0123abcd"}},
		{"run id", release.IsRunID,
			[]string{"gate-20261207-120000-abcdef", "gh-1234567890-1", "a"},
			[]string{"", "-gh", "gh_1", "gh 1", strings.Repeat("x", 65)}},
		{"role ARN", release.IsRoleARN,
			[]string{"arn:aws:iam::123456789012:role/cisecs-probe", "arn:aws-us-gov:iam::123456789012:role/path/cisecs-probe"},
			[]string{"", "cisecs-probe", "arn:aws:iam::1234:role/x", "arn:aws:iam::123456789012:user/x"}},
		{"instance profile", release.IsInstanceProfile,
			[]string{"cisecs-gate-instance", "arn:aws:iam::123456789012:instance-profile/cisecs-gate-instance"},
			[]string{"", "has space", "arn:aws:iam::123456789012:role/cisecs-gate-instance"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.good {
				if !tc.is(s) {
					t.Errorf("%q refused", s)
				}
			}
			for _, s := range tc.bad {
				if tc.is(s) {
					t.Errorf("%q taken", s)
				}
			}
		})
	}
}

// TestInstanceTypes: every architecture has a build and a gate instance
// type of its own.
func TestInstanceTypes(t *testing.T) {
	for _, arch := range release.Architectures() {
		if release.BuildInstanceType(arch) == "" || release.GateInstanceType(arch) == "" {
			t.Errorf("%s: no default instance type", arch)
		}
	}
	if release.GateInstanceType("x86_64") == release.GateInstanceType("arm64") {
		t.Error("x86_64 and arm64 share a gate instance type: EC2 refuses an AMI on another architecture's")
	}
}
