package hostscript

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/golden"
	"github.com/cisecs/cisecs/internal/testenv"
)

var goldenCases = []struct {
	name string
	opts Options
}{
	{"default", Options{}},
	{"standalone-fix", Options{Steps: []string{"persist", "firewall"}}},
	{"awsvpc-pinned", Options{
		SkipSteps:       []string{"agent", "cleanup"},
		NetworkModes:    []string{"awsvpc"},
		AgentVersion:    "1.86.3",
		AgentBaseURL:    "https://mirror.example.com/ecs/",
		Region:          "eu-west-1",
		AWSVPCBlockIMDS: true,
		ECSConfig:       map[string]string{"ECS_LOGLEVEL": "info", "ECS_RESERVED_MEMORY": "256", "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached"},
		ReportPath:      "/var/log/cisecs-report.json",
	}},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", tc.name+".sh.golden"), func() ([]byte, error) { return Render(tc.opts) })
		})
	}
}

// TestRenderSettings checks that the options reach the script as the shell
// will read them, quoting included.
func TestRenderSettings(t *testing.T) {
	got, err := Render(Options{
		Steps:        []string{"firewall"},
		NetworkModes: []string{"bridge"},
		ECSConfig:    map[string]string{"ECS_INSTANCE_ATTRIBUTES": `{"team":"it's"}`},
	})
	if err != nil {
		t.Fatal(err)
	}
	// CISECS_SOURCE_ONLY defines the script without running its steps.
	cmd := exec.Command("bash", "-c", `source /dev/stdin; printf '%s|' "${STEPS[@]}" "${NETWORK_MODES[@]}" "${ECS_CONFIG[@]}"`)
	cmd.Env = append(os.Environ(), "CISECS_SOURCE_ONLY=1")
	cmd.Stdin = bytes.NewReader(got)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sourcing the script: %v", err)
	}
	// Host mode is not enabled: ecs.config must not promise host-mode
	// tasks their roles.
	want := `detect|firewall|report|bridge|ECS_AWSVPC_BLOCK_IMDS=false|ECS_ENABLE_TASK_IAM_ROLE=true|ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false|ECS_INSTANCE_ATTRIBUTES={"team":"it's"}|`
	if string(out) != want {
		t.Errorf("settings as bash reads them:\n got %s\nwant %s", out, want)
	}
}

// TestHostModeConfigKey: ecs.config gives host-mode tasks their task roles
// exactly when host mode is enabled (the default enables it).
func TestHostModeConfigKey(t *testing.T) {
	for _, tt := range []struct {
		name  string
		modes []string
		want  string
	}{
		{"default", nil, "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true"},
		{"host", []string{"awsvpc", "host"}, "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true"},
		{"no host", []string{"awsvpc", "bridge"}, "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(Options{NetworkModes: tt.modes})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got, []byte("'"+tt.want+"'")) {
				t.Errorf("script lacks %s in ECS_CONFIG", tt.want)
			}
		})
	}
}

func TestShellcheck(t *testing.T) {
	testenv.Tool(t, "shellcheck", "./run test installs it")
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Render(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("shellcheck", "--shell=bash", "--severity=style", "-")
			cmd.Stdin = bytes.NewReader(b)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("shellcheck: %v\n%s", err, out)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // every one must appear in the error
	}{
		{"zero value", Options{}, nil},
		{"unknown step", Options{Steps: []string{"firewal"}}, []string{`steps: unknown step "firewal"`}},
		{"skip detect", Options{SkipSteps: []string{"detect"}}, []string{`skip_steps: "detect" always runs`}},
		{"unknown mode", Options{NetworkModes: []string{"none"}}, []string{`network_modes: unknown mode "none"`}},
		{"bad version", Options{AgentVersion: "latest"}, []string{`agent_version: "latest"`}},
		{"bad url", Options{AgentBaseURL: "ftp://x"}, []string{`agent_base_url: "ftp://x"`}},
		{"bad key", Options{AgentKey: "ssh-rsa AAAA"}, []string{"agent_key: not an ASCII-armoured PGP public key"}},
		{"bad fingerprint", Options{AgentKeyFingerprint: "BCE9D9A42D51784F"}, []string{`agent_key_fingerprint: "BCE9D9A42D51784F"`}},
		{"spaced fingerprint", Options{AgentKeyFingerprint: "F34C 3DDA E729 26B0 79BE AEC6 BCE9 D9A4 2D51 784F"}, nil},
		{"other fingerprint without its key", Options{AgentKeyFingerprint: "0123456789ABCDEF0123456789ABCDEF01234567"}, []string{"agent_key_fingerprint: 0123456789ABCDEF0123456789ABCDEF01234567 is not the shipped Amazon ECS key", "give that key in agent_key"}},
		{"bad region", Options{Region: "Europe"}, []string{`region: "Europe"`}},
		{"baked cluster", Options{ECSConfig: map[string]string{"ECS_CLUSTER": "prod"}}, []string{"ecs_config: ECS_CLUSTER must not be baked"}},
		{"bad key name", Options{ECSConfig: map[string]string{"PATH": "/x"}}, []string{`ecs_config: "PATH" is not an ecs.config key`}},
		{"newline value", Options{ECSConfig: map[string]string{"ECS_LOGLEVEL": "info\nECS_CLUSTER=x"}}, []string{"value of ECS_LOGLEVEL holds a line break"}},
		{"relative report", Options{ReportPath: "report.json"}, []string{`report_path: "report.json"`}},
		{"all at once", Options{Steps: []string{"x"}, NetworkModes: []string{"y"}, Region: "z"},
			[]string{`unknown step "x"`, `unknown mode "y"`, `region: "z"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, rerr := Render(tc.opts); rerr == nil {
				t.Error("Render accepted options that Validate refuses")
			}
		})
	}
}

func TestEffectiveSteps(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"all", Options{}, "detect agent config layers firewall persist sysctl services cleanup report"},
		{"selection in run order", Options{Steps: []string{"persist", "firewall"}}, "detect firewall persist report"},
		{"skip", Options{SkipSteps: []string{"agent", "services"}}, "detect config layers firewall persist sysctl cleanup report"},
		{"select and skip", Options{Steps: []string{"firewall", "persist"}, SkipSteps: []string{"persist"}}, "detect firewall report"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.opts.EffectiveSteps(), " "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
