package awssim

import (
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/sivchari/kumo"
)

// IsolateEnv cuts the SDK's default configuration chain (used by code that
// builds its own clients, such as awsaccount.Connect) off from the machine
// for the rest of t: it clears every AWS_* variable, points the shared
// config and credentials files at empty ones, turns IMDS off and makes
// every call a single attempt. The chain then has no region and no
// credentials; t sets those it wants with t.Setenv, and AWS_ENDPOINT_URL
// to a front served over TCP (httptest.NewServer(front)).
func IsolateEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after t
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	for _, f := range []struct{ env, name string }{
		{"AWS_CONFIG_FILE", "config"},
		{"AWS_SHARED_CREDENTIALS_FILE", "credentials"},
	} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(f.env, p)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
}

// TestKey is an access key the front takes (unless
// Options.InvalidCredentials): t.Setenv("AWS_ACCESS_KEY_ID", TestKey) and
// AWS_SECRET_ACCESS_KEY to TestSecret.
const (
	TestKey    = "AKIDAWSGATETEST"
	TestSecret = "secret"
)

// ServeTCP serves an emulated AWS (a new kumo behind a front made with o)
// on loopback TCP, for clients the SDK's default chain builds, and points
// that chain at it for the rest of t (AWS_ENDPOINT_URL). Call IsolateEnv
// first.
func ServeTCP(t testing.TB, o Options) *Server {
	t.Helper()
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	o.Kumo = k.URL
	front, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	return front
}

// Bubble runs f in a synctest bubble, where time is fake, with a front
// made with o on kumo: o.Kumo's, or a new kumo started for the rest of t,
// outside the bubble (kumo.NewServer listens on loopback).
func Bubble(t *testing.T, o Options, f func(t *testing.T, front *Server)) {
	t.Helper()
	if o.Kumo == "" {
		k := kumo.NewServer()
		t.Cleanup(k.Close)
		o.Kumo = k.URL
	}
	synctest.Test(t, func(t *testing.T) {
		front, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer front.Close()
		f(t, front)
	})
}

// RunID is a run id (release.IsRunID) made of t's name, so unique in the
// test binary: kumo keeps its state in process-wide singletons, shared by
// every test in it.
func RunID(t testing.TB) string {
	t.Helper()
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, t.Name())
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	return strings.Trim(id, "-_")
}

// ClosedURL is the URL of a loopback port nothing listens on.
func ClosedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
