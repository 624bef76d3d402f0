package twin

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// diskTops are the machine's directories that the twin's disk overlays.
func diskTops() []string { return []string{"etc", "var", "root", "home", "usr"} }

// maskedPaths are the machine's files that would make the twin look like
// the machine rather than its baseline: OS identity, sysctl and firewall
// configuration, ECS and Docker state. A baseline that ships one of them
// replaces it (a directory it ships hides the machine's entries); the
// others are hidden.
func maskedPaths() []string {
	return []string{
		"/etc/os-release", "/usr/lib/os-release", "/etc/lsb-release", "/etc/debian_version",
		"/etc/redhat-release", "/etc/system-release", "/etc/system-release-cpe",
		"/etc/amazon-linux-release", "/etc/centos-release", "/etc/fedora-release",
		"/etc/sysctl.conf", "/etc/sysctl.d", "/usr/lib/sysctl.d", "/usr/local/lib/sysctl.d",
		"/etc/sysconfig", "/etc/iptables", "/etc/nftables.conf", "/etc/nftables",
		"/etc/firewalld", "/etc/ufw", "/etc/default/ufw", "/etc/default/netfilter-persistent",
		"/etc/ecs", "/etc/docker", "/var/lib/ecs", "/var/lib/docker", "/var/log/ecs",
	}
}

// iptablesCommands are the names the baseline's backend answers to.
func iptablesCommands() []string {
	return []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}
}

func (t *Twin) diskDir() string    { return filepath.Join(t.dir, "disk") }
func (t *Twin) workDir() string    { return filepath.Join(t.dir, "work") }
func (t *Twin) procSysDir() string { return filepath.Join(t.dir, "proc-sys") }

// tops returns the overlaid directories that exist on this machine.
func (t *Twin) tops() []string {
	var tops []string
	for _, top := range diskTops() {
		if st, err := os.Stat("/" + top); err == nil && st.IsDir() {
			tops = append(tops, top)
		}
	}
	return tops
}

// prepareDisk makes the twin's disk from the baseline, unless the state
// directory already holds one: the upper directories of the overlays get
// the baseline's files, whiteouts and opaque directories that hide the
// machine's own configuration, and /usr/sbin/iptables* links to the
// baseline's backend.
func (t *Twin) prepareDisk() error {
	marker := filepath.Join(t.dir, "baseline")
	if data, err := os.ReadFile(marker); err == nil {
		if got := strings.TrimSpace(string(data)); got != t.baseline.Name {
			return fmt.Errorf("state dir %q holds a disk of baseline %q", t.dir, got)
		}
		return nil
	}
	if strings.ContainsAny(t.dir, ",:\\ ") {
		return fmt.Errorf("state dir %q: overlay mount options cannot hold ',', ':', '\\' or spaces", t.dir)
	}
	disk, work, tops := t.diskDir(), t.workDir(), t.tops()
	// Left over by a preparation that failed half-way.
	for _, d := range []string{disk, work} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
	}
	for _, top := range tops {
		st, err := os.Stat("/" + top)
		if err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		for _, d := range []string{filepath.Join(disk, top), filepath.Join(work, top)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("disk: %w", err)
			}
		}
		if err := os.Chmod(filepath.Join(disk, top), st.Mode().Perm()); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
	}
	b := t.baseline
	err := fs.WalkDir(b.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		top, _, _ := strings.Cut(p, "/")
		if !slices.Contains(tops, top) {
			return fmt.Errorf("%s: not under %s", p, strings.Join(tops, ", "))
		}
		dst := filepath.Join(disk, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := fs.ReadFile(b.Files, p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("baseline %q: %w", b.Name, err)
	}
	for _, pt := range b.Patches {
		data, err := os.ReadFile(pt.Path)
		if err != nil {
			return fmt.Errorf("baseline %q: patch: %w", b.Name, err)
		}
		if pt.Old != "" && !strings.Contains(string(data), pt.Old) {
			return fmt.Errorf("baseline %q: patch %s: %q not found: the installed version differs from the one the patch models", b.Name, pt.Path, pt.Old)
		}
		to := pt.To
		if to == "" {
			to = pt.Path
		}
		dst := filepath.Join(disk, filepath.FromSlash(strings.TrimPrefix(to, "/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		if pt.Old != "" {
			data = []byte(strings.Replace(string(data), pt.Old, pt.New, 1))
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
	}
	if unit := map[string]string{DaemonFirewalld: "firewalld.service", DaemonUfw: "ufw.service"}[b.Daemon]; unit != "" {
		// Enabled, as the hardening leaves it (systemctl is-enabled reads
		// the link; nothing starts it but the twin's boot).
		wants := filepath.Join(disk, "etc", "systemd", "system", "multi-user.target.wants")
		if err := os.MkdirAll(wants, 0o755); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		if err := os.Symlink("/lib/systemd/system/"+unit, filepath.Join(wants, unit)); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("disk: enable %s: %w", unit, err)
		}
	}
	hidden := append(append(append(maskedPaths(), layerMaskedPaths()...), b.Absent...), b.hideDaemons()...)
	for _, p := range hidden {
		rel := strings.TrimPrefix(path.Clean(p), "/")
		top, _, _ := strings.Cut(rel, "/")
		if !slices.Contains(tops, top) {
			continue
		}
		dst := filepath.Join(disk, filepath.FromSlash(rel))
		if info, err := fs.Stat(b.Files, rel); err == nil {
			if info.IsDir() {
				if err := unix.Setxattr(dst, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
					return fmt.Errorf("disk: opaque %q: %w", p, err)
				}
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		if err := unix.Mknod(dst, unix.S_IFCHR, 0); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("disk: hide %q: %w", p, err)
		}
	}
	multi := t.tools.nftMulti
	if b.Iptables == IptablesLegacy {
		multi = t.tools.legacyMulti
	}
	if multi == "" {
		return fmt.Errorf("%w: no %s iptables", ErrUnsupported, b.Iptables)
	}
	sbin := filepath.Join(disk, "usr", "sbin")
	if err := os.MkdirAll(sbin, 0o755); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	for _, name := range iptablesCommands() {
		if err := os.Symlink(multi, filepath.Join(sbin, name)); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
	}
	return os.WriteFile(marker, []byte(b.Name+"\n"), 0o644)
}

// procSysEntry is a file or directory of the machine's /proc/sys.
type procSysEntry struct {
	rel  string
	dir  bool
	data []byte
}

// readProcSys reads the machine's sysctls outside net/. The host's
// /proc/sys is a tmpfs holding these values, with the real net/ of the
// host namespace mounted in it: writes to global keys (sysctl --system
// with kernel.* lines) succeed there and change nothing real.
func readProcSys() ([]procSysEntry, error) {
	var entries []procSysEntry
	err := filepath.WalkDir("/proc/sys", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "/proc/sys" {
				return err
			}
			return nil
		}
		rel, _ := filepath.Rel("/proc/sys", p)
		switch {
		case rel == ".":
		case rel == "net":
			entries = append(entries, procSysEntry{rel: rel, dir: true})
			return fs.SkipDir
		case d.IsDir():
			entries = append(entries, procSysEntry{rel: rel, dir: true})
		case d.Type().IsRegular():
			data, _ := os.ReadFile(p)
			entries = append(entries, procSysEntry{rel: rel, data: data})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read /proc/sys: %w", err)
	}
	return entries, nil
}

// fillProcSys writes the snapshot of the machine's sysctls into the
// holder's tmpfs at procSysDir, seen through the holder's root.
func (t *Twin) fillProcSys(pid int) error {
	root := filepath.Join(fmt.Sprintf("/proc/%d/root", pid), t.procSysDir())
	for _, e := range t.procSys {
		to := filepath.Join(root, e.rel)
		var err error
		if e.dir {
			err = os.Mkdir(to, 0o755)
		} else {
			err = os.WriteFile(to, e.data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("proc/sys snapshot: %w", err)
		}
	}
	return nil
}

// hostEnv is the environment of every command the twin runs.
func hostEnv() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/sh", "LANG=C.UTF-8", "TERM=dumb",
	}
}

// hostFS is the host's file system as its processes see it, opened
// through the holder's root: absolute symlinks resolve inside the twin,
// never on the machine.
type hostFS struct{ pid int }

var _ fs.FS = hostFS{}

// Open implements fs.FS.
func (h hostFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := h.open(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return f, nil
}

// open opens name, relative to the host's root, with openat2 and
// RESOLVE_IN_ROOT.
func (h hostFS) open(name string, flags int, mode uint32) (*os.File, error) {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", h.pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, name, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/"+name), nil
}

// mkdirAll makes directory name and its parents, as mkdir -p in the host.
func (h hostFS) mkdirAll(name string) error {
	if name == "." {
		return nil
	}
	if f, err := h.open(name, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		return f.Close()
	} else if !errors.Is(err, unix.ENOENT) {
		return err
	}
	parent := path.Dir(name)
	if err := h.mkdirAll(parent); err != nil {
		return err
	}
	pf, err := h.open(parent, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer pf.Close()
	if err := unix.Mkdirat(int(pf.Fd()), path.Base(name), 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// hostName turns an absolute host path into an fs.FS name.
func hostName(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("path %q is not absolute", p)
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name == "" {
		name = "."
	}
	return name, nil
}

// ReadFile returns the contents of the host's file at the absolute path p,
// as the host sees it: the baseline's files, what was written since, and
// the machine's files where neither says otherwise.
func (t *Twin) ReadFile(p string) ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	name, err := hostName(p)
	if err != nil {
		return nil, fmt.Errorf("read twin file: %w", err)
	}
	if err := t.guard(); err != nil {
		return nil, fmt.Errorf("read twin file %q: %w", p, err)
	}
	f, err := t.hostFS().open(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("read twin file %q: %w", p, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read twin file %q: %w", p, err)
	}
	return data, nil
}

// WriteFile writes data to the host's file at the absolute path p,
// creating it with perm (before umask) and its missing parent directories
// with 0755. The file lands on the twin's disk and survives Reboot.
func (t *Twin) WriteFile(p string, data []byte, perm fs.FileMode) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.writeFile(p, data, perm)
}

// writeFile is WriteFile for a caller that holds t.mu.
func (t *Twin) writeFile(p string, data []byte, perm fs.FileMode) error {
	name, err := hostName(p)
	if err != nil {
		return fmt.Errorf("write twin file: %w", err)
	}
	if err := t.guard(); err != nil {
		return fmt.Errorf("write twin file %q: %w", p, err)
	}
	h := t.hostFS()
	if err := h.mkdirAll(path.Dir(name)); err != nil {
		return fmt.Errorf("write twin file %q: %w", p, err)
	}
	f, err := h.open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, uint32(perm.Perm()))
	if err != nil {
		return fmt.Errorf("write twin file %q: %w", p, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write twin file %q: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write twin file %q: %w", p, err)
	}
	return nil
}

// hostFS returns the host's file system; the caller holds t.mu and has
// passed guard.
func (t *Twin) hostFS() hostFS { return hostFS{pid: t.holder.Process.Pid} }
