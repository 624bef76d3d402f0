package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/provisioner/hostscript"
)

func TestScript(t *testing.T) {
	key := filepath.Join(t.TempDir(), "ecs.asc")
	if err := os.WriteFile(key, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n-----END PGP PUBLIC KEY BLOCK-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want hostscript.Options
	}{
		{"defaults", nil, hostscript.Options{ECSConfig: map[string]string{}}},
		{"standalone fix", []string{"--steps", "firewall,persist"},
			hostscript.Options{Steps: []string{"firewall", "persist"}, ECSConfig: map[string]string{}}},
		{"every flag", []string{"--skip-steps", "agent", "--network-modes", "awsvpc", "--agent-version", "1.86.3",
			"--agent-key-file", key, "--region", "eu-west-1", "--awsvpc-block-imds",
			"--ecs-config", "ECS_LOGLEVEL=debug", "--ecs-config", "ECS_RESERVED_MEMORY=256", "--report-path", "/var/log/r.json"},
			hostscript.Options{SkipSteps: []string{"agent"}, NetworkModes: []string{"awsvpc"}, AgentVersion: "1.86.3",
				AgentKey: "-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n-----END PGP PUBLIC KEY BLOCK-----\n", Region: "eu-west-1",
				AWSVPCBlockIMDS: true, ECSConfig: map[string]string{"ECS_LOGLEVEL": "debug", "ECS_RESERVED_MEMORY": "256"},
				ReportPath: "/var/log/r.json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"script"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			want, err := hostscript.Render(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal([]byte(stdout), want) {
				t.Errorf("printed script differs from hostscript.Render(%+v)", tc.want)
			}
		})
	}
}

func TestScriptBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"every bad setting at once", []string{"--steps", "firewal", "--network-modes", "nat", "--ecs-config", "ECS_CLUSTER=prod"},
			[]string{`steps: unknown step "firewal"`, `network_modes: unknown mode "nat"`, "ECS_CLUSTER must not be baked"}},
		{"not KEY=VALUE", []string{"--ecs-config", "ECS_LOGLEVEL"}, []string{`"ECS_LOGLEVEL" is not KEY=VALUE`}},
		{"missing key file", []string{"--agent-key-file", "/nonexistent/ecs.asc"}, []string{"--agent-key-file", "/nonexistent/ecs.asc"}},
		{"stray argument", []string{"firewall"}, []string{`unexpected argument "firewall"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"script"}, tc.args...)...)
			if code != 2 || stdout != "" {
				t.Errorf("exit %d with %d bytes on stdout, want 2 and nothing", code, len(stdout))
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not say %q", stderr, w)
				}
			}
		})
	}
}
