package hostscript

import (
	"strings"
	"testing"
)

func TestLayersValidate(t *testing.T) {
	tests := []struct {
		name   string
		layers Layers
		want   []string
	}{
		{"zero", Layers{}, nil},
		{"docker volume", Layers{DockerVolume: Volume{SizeGB: 100, Device: "/dev/xvdf"}}, nil},
		{"negative size", Layers{DockerVolume: Volume{SizeGB: -1}}, []string{"docker_volume: size_gb -1 is not between 1 and 16384"}},
		{"too big", Layers{AuditVolume: Volume{SizeGB: MaxVolumeGB + 1}}, []string{"audit_volume: size_gb 16385"}},
		{"device without size", Layers{AuditVolume: Volume{Device: "/dev/xvdg"}}, []string{`audit_volume: device_name "/dev/xvdg" without size_gb`}},
		{"bad device", Layers{DockerVolume: Volume{SizeGB: 10, Device: "xvdf; rm -rf /"}}, []string{`docker_volume: device_name "xvdf; rm -rf /" is not a device path`}},
		{"same device twice", Layers{DockerVolume: Volume{SizeGB: 10, Device: "/dev/xvdf"}, AuditVolume: Volume{SizeGB: 10, Device: "/dev/xvdf"}},
			[]string{`audit_volume: device_name "/dev/xvdf" is docker_volume's too`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Options{Layers: tc.layers}.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestLayersRender(t *testing.T) {
	tests := []struct {
		name   string
		layers Layers
		want   []string
	}{
		{"defaults", Layers{}, []string{"readonly DOCKER_VOLUME_GB=0\n", "readonly ALLOW_OVERLAYFS=''\n", "readonly SUDO_DROPIN=" + SudoDropIn + "\n"}},
		{"settings", Layers{DockerVolume: Volume{SizeGB: 100, Device: "/dev/xvdf"}, AuditVolume: Volume{SizeGB: 20}, AllowOverlayfs: true},
			[]string{"readonly DOCKER_VOLUME_GB=100\n", "readonly DOCKER_VOLUME_DEVICE='/dev/xvdf'\n", "readonly AUDIT_VOLUME_GB=20\n", "readonly ALLOW_OVERLAYFS='true'\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Render(Options{Layers: tc.layers})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("script lacks %q", w)
				}
			}
		})
	}
}
