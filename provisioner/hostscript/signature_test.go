package hostscript

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gpgKey is a throwaway signing key made for a test.
type gpgKey struct {
	home, fpr, armoured string
}

func newGPGKey(t *testing.T, name string) gpgKey {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	home := t.TempDir()
	gpg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--quiet"}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return string(out)
	}
	gpg("--passphrase", "", "--quick-gen-key", name+" <"+name+"@cisecs.invalid>", "ed25519", "sign", "never")
	var fpr string
	for _, line := range strings.Split(gpg("--with-colons", "--fingerprint"), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && fpr == "" {
			fpr = f[9]
		}
	}
	return gpgKey{home: home, fpr: fpr, armoured: gpg("--armor", "--export", fpr)}
}

func (k gpgKey) sign(t *testing.T, data []byte) []byte {
	t.Helper()
	cmd := exec.Command("gpg", "--homedir", k.home, "--batch", "--quiet", "--armor", "--detach-sign", "-o", "-")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg sign: %v", err)
	}
	return out
}

// TestAgentPackageSignature runs the script's own fetch_verified against a
// local mirror: only a package signed by the pinned key gets through.
func TestAgentPackageSignature(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	ecs := newGPGKey(t, "ecs")
	other := newGPGKey(t, "other")
	pkg := []byte("ecs-init package bytes")
	files := map[string][]byte{
		"good.rpm":         pkg,
		"good.rpm.asc":     ecs.sign(t, pkg),
		"tampered.rpm":     append(bytes.Clone(pkg), '!'),
		"tampered.rpm.asc": ecs.sign(t, pkg),
		"foreign.rpm":      pkg,
		"foreign.rpm.asc":  other.sign(t, pkg),
		"unsigned.rpm":     pkg,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/mirror/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		pkg     string
		key     gpgKey // the key given as agent_key
		wantErr string
	}{
		{"signed by the pinned key", "good.rpm", ecs, ""},
		{"package altered after signing", "tampered.rpm", ecs, "bad signature: tampered.rpm is not signed by key " + ecs.fpr},
		{"signed by another key", "foreign.rpm", ecs, "bad signature: foreign.rpm"},
		{"another key given as agent_key", "foreign.rpm", other, "bad signature: foreign.rpm"},
		{"no signature published", "unsigned.rpm", ecs, "download failed: " + srv.URL + "/mirror/unsigned.rpm.asc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script, err := Render(Options{AgentBaseURL: srv.URL + "/mirror", AgentKey: tc.key.armoured, AgentKeyFingerprint: ecs.fpr})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cmd := exec.Command("bash", "-c", `source /dev/stdin && fetch_verified "$0" "$1"`, tc.pkg, dir)
			cmd.Env = append(os.Environ(), "CISECS_SOURCE_ONLY=1")
			cmd.Stdin = bytes.NewReader(script)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err = cmd.Run()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("verification failed: %v\n%s", err, stderr.String())
				}
				if got, _ := os.ReadFile(filepath.Join(dir, tc.pkg)); !bytes.Equal(got, pkg) {
					t.Errorf("downloaded package differs from the mirror's")
				}
				return
			}
			if err == nil {
				t.Fatalf("verification passed, want failure %q", tc.wantErr)
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

// TestShippedAgentKey reads the key the plugin ships with real gpg: its
// primary key is the one DefaultAgentKeyFingerprint names, and it holds the
// signing subkey that has signed ecs-init packages since 2021, unrevoked
// and without expiry.
func TestShippedAgentKey(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg is not installed")
	}
	cmd := exec.Command("gpg", "--homedir", t.TempDir(), "--batch", "--with-colons", "--show-keys", "--with-fingerprint", "--with-subkey-fingerprints")
	cmd.Stdin = strings.NewReader(DefaultAgentKey)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg --show-keys on the shipped key: %v", err)
	}
	// Records come as pub/sub lines, each followed by its fpr line.
	var primary string
	signing := map[string]bool{}
	var kind, validity, caps, expires string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		switch f[0] {
		case "pub", "sub":
			kind, validity, expires, caps = f[0], f[1], f[6], f[11]
		case "fpr":
			if kind == "pub" {
				primary = f[9]
			}
			if kind == "sub" && strings.Contains(caps, "s") && validity != "r" && validity != "e" && expires == "" {
				signing[f[9]] = true
			}
		}
	}
	if primary != DefaultAgentKeyFingerprint {
		t.Errorf("shipped key's primary fingerprint is %q, want %s", primary, DefaultAgentKeyFingerprint)
	}
	const since2021 = "D64BB6F90CF377E9B5FB346F50DECCC4710E61AF"
	if !signing[since2021] {
		t.Errorf("shipped key lacks the signing subkey %s (usable signing subkeys: %v)", since2021, signing)
	}
}

// TestDefaultKeyWithoutKeyserver renders the script with no key options:
// it carries the shipped key, asks no keyserver, and refuses a package
// signed by any other key.
func TestDefaultKeyWithoutKeyserver(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	other := newGPGKey(t, "other")
	pkg := []byte("ecs-init package bytes")
	files := map[string][]byte{"foreign.rpm": pkg, "foreign.rpm.asc": other.sign(t, pkg)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(files[strings.TrimPrefix(r.URL.Path, "/")])
	}))
	t.Cleanup(srv.Close)
	script, err := Render(Options{AgentBaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(script, []byte("keyserver")) {
		t.Error("the default script still asks a keyserver")
	}
	if !bytes.Contains(script, []byte(strings.TrimSpace(DefaultAgentKey))) {
		t.Error("the default script does not carry the shipped key")
	}
	cmd := exec.Command("bash", "-c", `source /dev/stdin && fetch_verified foreign.rpm "$0"`, t.TempDir())
	cmd.Env = append(os.Environ(), "CISECS_SOURCE_ONLY=1")
	cmd.Stdin = bytes.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("a package signed by another key passed the default check")
	}
	if want := "bad signature: foreign.rpm is not signed by key " + DefaultAgentKeyFingerprint; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not say %q", stderr.String(), want)
	}
}
