package golden_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/golden"
)

// fakeTB records what Check reports. Its nil testing.TB makes any call
// Check should not make panic.
type fakeTB struct {
	testing.TB
	failed, stopped bool
	msgs            []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Logf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed = true
	f.Logf(format, args...)
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	f.stopped = true
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) text() string { return strings.Join(f.msgs, "\n") }

// check runs golden.Check on a fakeTB in a goroutine of its own, which a
// Fatalf ends as it ends a test's.
func check(path string, render func() ([]byte, error)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		golden.Check(f, path, render)
	}()
	<-done
	return f
}

// fixed renders s every time.
func fixed(s string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(s), nil }
}

// withUpdate runs f as under -update.
func withUpdate(t *testing.T, f func()) {
	t.Helper()
	if err := flag.Set("update", "true"); err != nil {
		t.Fatal(err)
	}
	defer flag.Set("update", "false")
	f()
}

// goldenFile writes content to a golden file in a fresh testdata/ and
// returns its path.
func goldenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "testdata", "x.golden")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantReport fails t unless f failed as stop says and reported every
// one of want.
func wantReport(t *testing.T, f *fakeTB, stop bool, want ...string) {
	t.Helper()
	if !f.failed || f.stopped != stop {
		t.Errorf("failed %t, stopped %t; want a failure, stopped %t; reported:\n%s", f.failed, f.stopped, stop, f.text())
	}
	for _, w := range want {
		if !strings.Contains(f.text(), w) {
			t.Errorf("the report does not say %q:\n%s", w, f.text())
		}
	}
}

func TestMatch(t *testing.T) {
	p := goldenFile(t, "a\nb\n")
	if f := check(p, fixed("a\nb\n")); f.failed {
		t.Errorf("a render equal to the file failed:\n%s", f.text())
	}
}

// TestMismatch: a render that differs from the file fails the test, which
// goes on, naming the file, the first line that differs, both versions
// of it and the command that accepts the render.
func TestMismatch(t *testing.T) {
	for _, tc := range []struct {
		name, file, render string
		want               []string
	}{
		{"changed line", "a\nb\nc\n", "a\nB\nc\n", []string{"differs from the render at line 2 (the file has 3 lines, the render 3)", `want: "b\n"`, ` got: "B\n"`}},
		{"added line", "a\n", "a\nb\n", []string{"at line 2 (the file has 1 lines, the render 2)", "want: (end of file)", ` got: "b\n"`}},
		{"removed line", "a\nb\n", "a\n", []string{"at line 2", `want: "b\n"`, " got: (end of file)"}},
		{"last newline", "a\nb\n", "a\nb", []string{"at line 2", `want: "b\n"`, ` got: "b"`}},
		{"empty render", "a\n", "", []string{"at line 1 (the file has 1 lines, the render 0)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := goldenFile(t, tc.file)
			f := check(p, fixed(tc.render))
			wantReport(t, f, false, append(tc.want, p, "run go test ./internal/golden -update to accept")...)
			if b, _ := os.ReadFile(p); string(b) != tc.file {
				t.Errorf("the check changed the file to %q", b)
			}
		})
	}
}

// nondeterministic renders a different last line each time.
func nondeterministic() func() ([]byte, error) {
	n := 0
	return func() ([]byte, error) {
		n++
		return fmt.Appendf(nil, "same\nrender %d\n", n*10), nil
	}
}

// TestNondeterministic: a second render that differs from the first stops
// the test with both lengths and the first line that differs, and
// -update writes nothing.
func TestNondeterministic(t *testing.T) {
	want := []string{"the render is not deterministic: the first render gave 15 bytes, the second 15; they first differ at line 2", ` first: "render 10\n"`, `second: "render 20\n"`}
	p := goldenFile(t, "same\nrender 10\n")
	wantReport(t, check(p, nondeterministic()), true, append(want, p)...)

	missing := filepath.Join(t.TempDir(), "testdata", "x.golden")
	withUpdate(t, func() {
		wantReport(t, check(missing, nondeterministic()), true, want...)
	})
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-update wrote a non-deterministic render: %v", err)
	}
}

// TestMissing: a golden file that does not exist stops the test, naming
// it and the command that creates it.
func TestMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "testdata", "x.golden")
	wantReport(t, check(p, fixed("a\n")), true, p+": no golden file; run go test ./internal/golden -update to create it")
}

func TestRenderError(t *testing.T) {
	p := goldenFile(t, "a\n")
	f := check(p, func() ([]byte, error) { return nil, errors.New("no such image") })
	wantReport(t, f, true, "rendering "+p+": no such image")
}

// TestUpdate: -update writes the render, creating testdata/ and the
// directories below it, says so, and the check then passes; a file that
// holds the render already is left alone.
func TestUpdate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "testdata", "sub", "x.golden")
	var f *fakeTB
	withUpdate(t, func() { f = check(p, fixed("new\n")) })
	if f.failed || !strings.Contains(f.text(), "-update: wrote "+p+" (4 bytes)") {
		t.Errorf("-update: failed %t, reported:\n%s", f.failed, f.text())
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "new\n" {
		t.Fatalf("-update left %q, %v; want the render", b, err)
	}
	if f := check(p, fixed("new\n")); f.failed {
		t.Errorf("after -update, the check failed:\n%s", f.text())
	}
	withUpdate(t, func() { f = check(p, fixed("new\n")) })
	if f.failed || !strings.Contains(f.text(), "-update: "+p+" is up to date") {
		t.Errorf("-update of an equal file: failed %t, reported:\n%s", f.failed, f.text())
	}

	p = goldenFile(t, "old\n")
	withUpdate(t, func() { f = check(p, fixed("new\n")) })
	if b, _ := os.ReadFile(p); f.failed || string(b) != "new\n" {
		t.Errorf("-update over an old file: failed %t, file %q, reported:\n%s", f.failed, b, f.text())
	}
}
