package main

import (
	"strings"
	"testing"
)

func TestJanitorUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"stray argument", []string{"now"}, `unexpected argument "now"`},
		{"bad timeout", []string{"--timeout", "0s"}, "--timeout 0s is not positive"},
		{"unknown flag", []string{"--dry-run"}, "flag provided but not defined: -dry-run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"janitor"}, tc.args...)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}
