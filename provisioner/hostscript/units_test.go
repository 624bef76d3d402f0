package hostscript_test

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twin/twintest"
)

// unitAfter merges a unit's After= as systemd does: the unit file first,
// then its drop-ins (.d/*.conf from /etc, /run and /usr/lib, sorted by
// name), each After= adding to the list.
func unitAfter(t *testing.T, tw *twin.Twin, unitPath string) []string {
	t.Helper()
	files := []string{unitPath}
	var dropins []string
	for _, dir := range []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"} {
		out, err := tw.Exec(t.Context(), nil, "sh", "-c", "ls "+dir+"/ecs.service.d/*.conf 2>/dev/null || true")
		if err != nil {
			t.Fatal(err)
		}
		dropins = append(dropins, strings.Fields(string(out))...)
	}
	sort.Slice(dropins, func(i, j int) bool { return path.Base(dropins[i]) < path.Base(dropins[j]) })
	var after []string
	for _, f := range append(files, dropins...) {
		b, err := tw.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.TrimSpace(k) == "After" {
				after = append(after, strings.Fields(v)...)
			}
		}
	}
	return after
}

// TestAgentStartsAfterUserData installs each OS's packaged ecs.service
// (testdata/units, cited in each file) and runs the services step: the
// agent must end up ordered after cloud-final.service, where user data
// sets ECS_CLUSTER. Amazon Linux's unit already is and gets no drop-in;
// the generic rpm and deb units get one, and a second run changes nothing.
func TestAgentStartsAfterUserData(t *testing.T) {
	tests := []struct {
		name, baseline, unit, dir string
		wantDropIn                bool
	}{
		{"amazon linux 2023", "al2023-nftables", "al2023-ecs.service", "/usr/lib/systemd/system", false},
		{"rhel 9", "rhel9-iptables-reject", "rhel9-ecs.service", "/usr/lib/systemd/system", true},
		{"ubuntu 24.04", "ubuntu2404-iptables-nft", "ubuntu-ecs.service", "/lib/systemd/system", true},
	}
	const dropIn = "/etc/systemd/system/ecs.service.d/10-cisecs-after-cloud-final.conf"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tw := twintest.New(t, tt.baseline)
			unit, err := os.ReadFile(filepath.Join("testdata", "units", tt.unit))
			if err != nil {
				t.Fatal(err)
			}
			unitPath := tt.dir + "/ecs.service"
			if err := tw.WriteFile(unitPath, unit, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tw.WriteFile(tt.dir+"/docker.service", []byte("[Unit]\nDescription=Docker\n[Service]\nExecStart=/usr/bin/dockerd\n[Install]\nWantedBy=multi-user.target\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(unitAfter(t, tw, unitPath), "cloud-final.service") == tt.wantDropIn {
				t.Fatalf("the packaged unit's After= is %v: testdata does not model this case", unitAfter(t, tw, unitPath))
			}
			opts := hostscript.Options{Steps: []string{"services"}}
			rep, err := runScript(ctx, t, tw, opts)
			if err != nil {
				t.Fatalf("services step: %v", err)
			}
			if after := unitAfter(t, tw, unitPath); !slices.Contains(after, "cloud-final.service") {
				t.Errorf("ecs.service After=%v: the agent may start before user data sets ECS_CLUSTER", after)
			}
			_, statErr := tw.ReadFile(dropIn)
			if gotDropIn := statErr == nil; gotDropIn != tt.wantDropIn {
				t.Errorf("drop-in %s written: %v, want %v", dropIn, gotDropIn, tt.wantDropIn)
			}
			if tt.wantDropIn && !slices.ContainsFunc(rep.changed(), func(s string) bool { return strings.Contains(s, "cloud-final.service") }) {
				t.Errorf("the report does not say the agent was ordered after cloud-final: %v", rep.changed())
			}
			rep, err = runScript(ctx, t, tw, opts)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if slices.ContainsFunc(rep.changed(), func(s string) bool { return strings.Contains(s, "cloud-final") }) {
				t.Errorf("second run changed the unit again: %v", rep.changed())
			}
		})
	}
}
