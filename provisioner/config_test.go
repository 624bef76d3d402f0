package provisioner

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/cisecs/cisecs/provisioner/hostscript"
)

func TestPrepareDefaults(t *testing.T) {
	var p Provisioner
	if err := p.Prepare(map[string]any{"packer_build_name": "amazon-ebs.al2023"}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	want := prepared{
		steps:             hostscript.Steps,
		reportPath:        hostscript.DefaultReportPath,
		reportFile:        "cisecs-report-amazon-ebs.al2023.json",
		remoteDir:         "/tmp",
		sudo:              true,
		startRetryTimeout: 5 * time.Minute,
	}
	got := p.p
	got.script = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prepared = %+v, want %+v", got, want)
	}
	script, err := hostscript.Render(hostscript.Options{})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if string(p.p.script) != string(script) {
		t.Errorf("script differs from hostscript.Render of the zero Options")
	}
}

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		raw  map[string]any
		// check, when set, inspects a successful Prepare.
		check func(t *testing.T, p prepared)
		// wantErr lists substrings of the error; empty means success.
		wantErr []string
	}{
		{
			name: "steps in any order run in script order",
			raw:  map[string]any{"steps": []string{"firewall", "agent"}},
			check: func(t *testing.T, p prepared) {
				wantSteps(t, p, "detect", "agent", "firewall", "report")
			},
		},
		{
			name: "skip agent",
			raw:  map[string]any{"skip_steps": []string{"agent"}},
			check: func(t *testing.T, p prepared) {
				wantSteps(t, p, "detect", "config", "layers", "firewall", "persist", "sysctl", "services", "cleanup", "report")
			},
		},
		{
			name: "skip every selected step leaves detect and report",
			raw:  map[string]any{"steps": []string{"agent"}, "skip_steps": []string{"agent"}},
			check: func(t *testing.T, p prepared) {
				wantSteps(t, p, "detect", "report")
				want, err := hostscript.Render(hostscript.Options{Steps: []string{"detect", "report"}})
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if string(p.script) != string(want) {
					t.Errorf("script is not the detect-and-report script:\n%s", p.script)
				}
			},
		},
		{
			name: "steps as a comma-separated string",
			raw:  map[string]any{"steps": "agent,config"},
			check: func(t *testing.T, p prepared) {
				wantSteps(t, p, "detect", "agent", "config", "report")
			},
		},
		{
			name: "no sudo",
			raw:  map[string]any{"use_sudo": false},
			check: func(t *testing.T, p prepared) {
				if p.sudo {
					t.Error("sudo = true, want false")
				}
			},
		},
		{
			name: "settings",
			raw: map[string]any{
				"report_file":         filepath.Join(dir, "r.json"),
				"remote_dir":          "/var/tmp/cisecs/",
				"report_path":         "/root/cisecs.json",
				"start_retry_timeout": "90s",
			},
			check: func(t *testing.T, p prepared) {
				if p.reportFile != filepath.Join(dir, "r.json") || p.remoteDir != "/var/tmp/cisecs" ||
					p.reportPath != "/root/cisecs.json" || p.startRetryTimeout != 90*time.Second {
					t.Errorf("prepared = %+v", p)
				}
			},
		},
		{
			name: "no build name",
			raw:  map[string]any{},
			check: func(t *testing.T, p prepared) {
				if p.reportFile != "cisecs-report.json" {
					t.Errorf("reportFile = %q, want cisecs-report.json", p.reportFile)
				}
			},
		},
		{
			name: "build name with a slash",
			raw:  map[string]any{"packer_build_name": "a/../b c"},
			check: func(t *testing.T, p prepared) {
				if p.reportFile != "cisecs-report-a_.._b_c.json" {
					t.Errorf("reportFile = %q", p.reportFile)
				}
			},
		},
		{
			name:    "unknown step",
			raw:     map[string]any{"steps": []string{"agnet"}},
			wantErr: []string{`steps: unknown step "agnet"`},
		},
		{
			name:    "unknown skipped step",
			raw:     map[string]any{"skip_steps": []string{"agnet"}},
			wantErr: []string{`skip_steps: unknown step "agnet"`},
		},
		{
			name:    "skip detect",
			raw:     map[string]any{"skip_steps": []string{"detect"}},
			wantErr: []string{`skip_steps: "detect" always runs`},
		},
		{
			name:    "skip report",
			raw:     map[string]any{"skip_steps": []string{"report"}},
			wantErr: []string{`skip_steps: "report" always runs`},
		},
		{
			name:    "unknown network mode",
			raw:     map[string]any{"network_modes": []string{"none"}},
			wantErr: []string{`network_modes: unknown mode "none"`},
		},
		{
			name:    "bad agent version",
			raw:     map[string]any{"agent_version": "latest"},
			wantErr: []string{`agent_version: "latest"`},
		},
		{
			name:    "bad agent base url",
			raw:     map[string]any{"agent_base_url": "ftp://mirror"},
			wantErr: []string{`agent_base_url: "ftp://mirror"`},
		},
		{
			name:    "agent key not armoured",
			raw:     map[string]any{"agent_key": "mQINBF..."},
			wantErr: []string{"agent_key: not an ASCII-armoured PGP public key"},
		},
		{
			name:    "bad fingerprint",
			raw:     map[string]any{"agent_key_fingerprint": "BCE9D9A42D51784F"},
			wantErr: []string{`agent_key_fingerprint: "BCE9D9A42D51784F"`},
		},
		{
			name:    "bad region",
			raw:     map[string]any{"region": "Frankfurt"},
			wantErr: []string{`region: "Frankfurt"`},
		},
		{
			name:    "ECS_CLUSTER baked",
			raw:     map[string]any{"ecs_config": map[string]string{"ECS_CLUSTER": "prod"}},
			wantErr: []string{"ecs_config: ECS_CLUSTER must not be baked"},
		},
		{
			name:    "bad ecs_config key",
			raw:     map[string]any{"ecs_config": map[string]string{"LOGLEVEL": "debug"}},
			wantErr: []string{`ecs_config: "LOGLEVEL"`},
		},
		{
			name:    "relative report path",
			raw:     map[string]any{"report_path": "report.json"},
			wantErr: []string{`report_path: "report.json"`},
		},
		{
			name:    "report file is a directory",
			raw:     map[string]any{"report_file": dir},
			wantErr: []string{"report_file: " + `"` + dir + `" is a directory`},
		},
		{
			name:    "relative remote dir",
			raw:     map[string]any{"remote_dir": "tmp"},
			wantErr: []string{`remote_dir: "tmp"`},
		},
		{
			name:    "remote dir with a quote",
			raw:     map[string]any{"remote_dir": "/tmp/it's"},
			wantErr: []string{`remote_dir: "/tmp/it's"`},
		},
		{
			name:    "bad duration",
			raw:     map[string]any{"start_retry_timeout": "5 minutes"},
			wantErr: []string{`start_retry_timeout: "5 minutes" is not a duration`},
		},
		{
			name:    "zero duration",
			raw:     map[string]any{"start_retry_timeout": "0s"},
			wantErr: []string{`start_retry_timeout: "0s" is not positive`},
		},
		{
			name:    "unknown key",
			raw:     map[string]any{"skip_step": []string{"agent"}},
			wantErr: []string{"unknown configuration key", "skip_step"},
		},
		{
			name: "several bad settings, all reported",
			raw: map[string]any{
				"steps":               []string{"agnet"},
				"skip_steps":          []string{"detect"},
				"network_modes":       []string{"none"},
				"region":              "Frankfurt",
				"ecs_config":          map[string]string{"ECS_CLUSTER": "prod"},
				"remote_dir":          "tmp",
				"start_retry_timeout": "soon",
			},
			wantErr: []string{
				`steps: unknown step "agnet"`,
				`skip_steps: "detect" always runs`,
				`network_modes: unknown mode "none"`,
				`region: "Frankfurt"`,
				"ecs_config: ECS_CLUSTER",
				`remote_dir: "tmp"`,
				`start_retry_timeout: "soon"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Provisioner
			err := p.Prepare(tt.raw)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if tt.check != nil {
					tt.check(t, p.p)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare succeeded, want an error with %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if p.p.script != nil {
				t.Error("a failed Prepare left a script behind")
			}
		})
	}
}

func wantSteps(t *testing.T, p prepared, want ...string) {
	t.Helper()
	if !slices.Equal(p.steps, want) {
		t.Errorf("steps = %q, want %q", p.steps, want)
	}
}

// TestConfigSpec decodes an HCL block with the generated spec and prepares
// the provisioner from the result, as Packer does.
func TestConfigSpec(t *testing.T) {
	const src = `
steps                 = ["firewall", "agent", "persist"]
skip_steps            = ["agent"]
network_modes         = ["awsvpc"]
agent_version         = "1.86.3"
agent_base_url        = "https://mirror.example.com/ecs"
agent_key_fingerprint = "F34C 3DDA E729 26B0 79BE AEC6 BCE9 D9A4 2D51 784F"
region                = "eu-west-1"
awsvpc_block_imds     = true
ecs_config            = { ECS_LOGLEVEL = "debug" }
report_path           = "/var/lib/cisecs/r.json"
report_file           = "out/report.json"
remote_dir            = "/var/tmp"
use_sudo              = false
start_retry_timeout   = "90s"
`
	var p Provisioner
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "cisecs.pkr.hcl")
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	val, diags := hcldec.Decode(f.Body, hcldec.ObjectSpec(p.ConfigSpec()), nil)
	if diags.HasErrors() {
		t.Fatalf("decode: %v", diags)
	}
	if err := p.Prepare(val); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	got := p.config
	got.ctx = interpolate.Context{}
	want := Config{
		Steps:               []string{"firewall", "agent", "persist"},
		SkipSteps:           []string{"agent"},
		NetworkModes:        []string{"awsvpc"},
		AgentVersion:        "1.86.3",
		AgentBaseURL:        "https://mirror.example.com/ecs",
		AgentKeyFingerprint: "F34C 3DDA E729 26B0 79BE AEC6 BCE9 D9A4 2D51 784F",
		Region:              "eu-west-1",
		AWSVPCBlockIMDS:     true,
		ECSConfig:           map[string]string{"ECS_LOGLEVEL": "debug"},
		ReportPath:          "/var/lib/cisecs/r.json",
		ReportFile:          "out/report.json",
		RemoteDir:           "/var/tmp",
		UseSudo:             config.TriFalse,
		StartRetryTimeout:   "90s",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %+v\nwant     %+v", got, want)
	}
	wantSteps(t, p.p, "detect", "firewall", "persist", "report")
}

// TestConfigSpecComplete fails when a Config field is missing from the
// generated spec: run go generate ./provisioner/.
func TestConfigSpecComplete(t *testing.T) {
	spec := new(Provisioner).ConfigSpec()
	var names []string
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for f := range typ.Fields() {
			tag, ok := f.Tag.Lookup("mapstructure")
			switch {
			case !f.IsExported():
			case tag == ",squash":
				walk(f.Type)
			case ok:
				names = append(names, strings.Split(tag, ",")[0])
			}
		}
	}
	walk(reflect.TypeFor[Config]())
	for _, n := range names {
		if _, ok := spec[n]; !ok {
			t.Errorf("spec has no %q: run go generate ./provisioner/", n)
		}
	}
	if len(spec) != len(names) {
		t.Errorf("spec has %d attributes, Config %d fields: run go generate ./provisioner/", len(spec), len(names))
	}
}

func TestPrepareReportFileCreatedLater(t *testing.T) {
	// A report file in a directory that does not exist yet is fine:
	// Provision creates the directory.
	var p Provisioner
	f := filepath.Join(t.TempDir(), "a", "b", "r.json")
	if err := p.Prepare(map[string]any{"report_file": f}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(f)); !os.IsNotExist(err) {
		t.Errorf("Prepare created %s", filepath.Dir(f))
	}
}
