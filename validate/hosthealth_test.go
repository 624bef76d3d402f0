package validate

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParseHostHealth(t *testing.T) {
	tests := []struct {
		name     string
		out      string
		problems []string
	}{
		{"healthy", "avc_denials=0\ndocker_fs=/var/lib/docker\ndocker_fs_avail_bytes=53687091200\nclock_offset_seconds=0.000012345 slow\nclock_leap_status=Normal\n", nil},
		{"nothing readable", "avc_denials=unknown (no ausearch)\ndocker_fs=/\ndocker_fs_avail_bytes=10737418240\nclock=unknown (no chronyc)\n", nil},
		{"denials", "avc_denials=2\navc_sample=type=AVC msg=audit(1.1:2): avc:  denied  { connectto } for comm=\"agent\"\navc_sample=type=AVC x\ndocker_fs=/\ndocker_fs_avail_bytes=10737418240\n",
			[]string{"2 SELinux AVC denials since boot", "denied  { connectto }"}},
		{"full disk", "avc_denials=0\ndocker_fs=/var\ndocker_fs_avail_bytes=104857600\n", []string{"Docker's filesystem /var has 100 MiB free, below 2048 MiB"}},
		{"clock fast", "clock_offset_seconds=3.250000000 fast\nclock_leap_status=Normal\n", []string{"the clock is 3.25s off its time sources"}},
		{"clock slow", "clock_offset_seconds=1.500000000 slow\nclock_leap_status=Normal\n", []string{"the clock is -1.5s off"}},
		{"not synchronised", "clock_offset_seconds=0.000000000 slow\nclock_leap_status=Not synchronised\n", []string{"leap status is Not synchronised"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHostHealth(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			ps := strings.Join(h.Problems(DefaultMinDockerFreeBytes, DefaultMaxClockOffset), "\n")
			if len(tc.problems) == 0 && ps != "" {
				t.Errorf("problems %q, want none", ps)
			}
			for _, w := range tc.problems {
				if !strings.Contains(ps, w) {
					t.Errorf("problems %q lack %q", ps, w)
				}
			}
		})
	}
}

func TestParseHostHealthBadNumber(t *testing.T) {
	if _, err := ParseHostHealth("docker_fs_avail_bytes=lots\n"); err == nil || !strings.Contains(err.Error(), "docker_fs_avail_bytes=lots") {
		t.Errorf("err %v, want one naming the line", err)
	}
}

func TestHostHealthScript(t *testing.T) {
	plain, wedge := HostHealthScript(false), HostHealthScript(true)
	for _, w := range []string{"set -euo pipefail", "ausearch -m avc -ts boot", "chronyc -n tracking", "findmnt -n -b -o TARGET,AVAIL"} {
		if !strings.Contains(plain, w) {
			t.Errorf("host-health script lacks %q", w)
		}
	}
	for _, w := range []string{"unregister_netdevice", "timeout 10 docker ps", "DockerTimeoutError", "systemctl is-system-running"} {
		if strings.Contains(plain, w) || !strings.Contains(wedge, w) {
			t.Errorf("%q: want it in the wedge script only", w)
		}
	}
}

func TestHostHealthShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck is not installed (CI must install it)")
		}
		t.Skip("shellcheck is not installed")
	}
	for _, wedge := range []bool{false, true} {
		cmd := exec.Command("shellcheck", "--shell=bash", "--severity=style", "-")
		cmd.Stdin = strings.NewReader(HostHealthScript(wedge))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck (wedge %v): %v\n%s", wedge, err, out)
		}
	}
}
