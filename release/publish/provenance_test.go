package publish_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/release/publish"
)

// TestReadReport checks what the publisher takes from a host
// script report: the SHA-256 of its bytes, and the agent it installed
// (the package release dropped); anything but a report is refused.
func TestReadReport(t *testing.T) {
	dir := t.TempDir()
	const v1 = `{"schema": "cisecs.report/v1", "result": "ok", "ecs_agent": {"version": "1.86.3-1"}}`
	sum := sha256.Sum256([]byte(v1))
	tests := []struct {
		name, content string
		want          publish.Provenance
		wantErr       string
	}{
		{name: "report", content: v1, want: publish.Provenance{ReportSHA256: hex.EncodeToString(sum[:]), ECSAgentVersion: "1.86.3"}},
		{name: "report without agent", content: `{"schema": "cisecs.report/v1", "result": "ok"}`},
		{name: "empty", content: "", wantErr: "empty"},
		{name: "not json", content: "test", wantErr: "not a cisecs report"},
		{name: "other schema", content: `{"schema": "other/v1"}`, wantErr: "not a cisecs report"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.wantErr == "" && tc.want.ECSAgentVersion == "" {
				s := sha256.Sum256([]byte(tc.content))
				tc.want.ReportSHA256 = hex.EncodeToString(s[:])
			}
			got, err := publish.ReadReport(p)
			if got.ReportSHA256 != tc.want.ReportSHA256 || got.ECSAgentVersion != tc.want.ECSAgentVersion || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ReadReport = %+v, %v; want %+v, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
