package provisioner

import (
	"strings"
	"testing"
)

func TestPrepareLayers(t *testing.T) {
	tests := []struct {
		name    string
		raw     map[string]any
		want    []string
		wantErr string
	}{
		{"defaults", map[string]any{}, []string{"readonly DOCKER_VOLUME_GB=0\n", "readonly ALLOW_OVERLAYFS=''\n"}, ""},
		{"volumes and overlay", map[string]any{
			"docker_volume_size_gb": 100, "docker_volume_device_name": "/dev/sdf",
			"audit_volume_size_gb": 20, "audit_volume_device_name": "/dev/sdg", "allow_overlayfs": true,
		}, []string{"readonly DOCKER_VOLUME_GB=100\n", "readonly DOCKER_VOLUME_DEVICE='/dev/sdf'\n", "readonly AUDIT_VOLUME_GB=20\n",
			"readonly AUDIT_VOLUME_DEVICE='/dev/sdg'\n", "readonly ALLOW_OVERLAYFS='true'\n"}, ""},
		{"bad size", map[string]any{"docker_volume_size_gb": -5}, nil, "docker_volume: size_gb -5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Provisioner
			err := p.Prepare(tc.raw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Prepare = %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(p.p.script), w) {
					t.Errorf("script lacks %q", w)
				}
			}
		})
	}
}
