package twin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
)

// ip6tablesStub answers for every ip6tables command on a kernel booted
// with ipv6.disable=1, as iptables 1.8 does there: the kernel has no
// AF_INET6, so no table can be initialised.
const ip6tablesStub = "#!/bin/sh\n" +
	"echo \"${0##*/} v1.8.9 (legacy): can't initialize ip6tables table \\`filter': Address family not supported by protocol\" >&2\n" +
	"echo \"Perhaps ip6tables or your kernel needs to be upgraded.\" >&2\n" +
	"exit 3\n"

// kernelIPv6Script hides /proc/sys/net/ipv6 in the host's mount
// namespace (a tmpfs over /proc/sys/net holding every other entry), and
// puts the stub read from stdin first in PATH for every ip6tables name.
const kernelIPv6Script = `set -e
src=/run/twin-kernel-net
mkdir -p "$src"
mount --bind /proc/sys/net "$src"
mount -t tmpfs -o mode=0555 twin-proc-sys-net /proc/sys/net
for e in "$src"/*; do
	n=${e##*/}
	[ "$n" = ipv6 ] && continue
	if [ -d "$e" ]; then mkdir "/proc/sys/net/$n"; else : >"/proc/sys/net/$n"; fi
	mount --bind "$e" "/proc/sys/net/$n"
done
umount -l "$src"
rmdir "$src"
mount -t tmpfs -o mode=0755 twin-ipv6-disabled /usr/local/sbin
stub=$(cat)
for n in ip6tables ip6tables-save ip6tables-restore ip6tables-legacy ip6tables-legacy-save ip6tables-legacy-restore ip6tables-nft ip6tables-nft-save ip6tables-nft-restore; do
	printf '%s\n' "$stub" >"/usr/local/sbin/$n"
	chmod 0755 "/usr/local/sbin/$n"
done
`

// kernelIPv6 makes the host, when Options.IPv6Disabled, look like a
// kernel booted with ipv6.disable=1: no IPv6 on its interfaces, no
// /proc/sys/net/ipv6 for its processes (ecs-init looks for it), and
// ip6tables failing. It is a boot step, before anything uses them.
func (t *Twin) kernelIPv6(ctx context.Context) error {
	if !t.ipv6Off {
		return nil
	}
	err := ns.WithNetNSPath(t.NetNS(Host), func(ns.NetNS) error {
		for _, p := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
			if err := writeProcSys(p, "1"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kernel ipv6.disable=1: %w", err)
	}
	if _, err := t.run(ctx, inHost, strings.NewReader(ip6tablesStub), []string{"sh", "-c", kernelIPv6Script, "kernel-ipv6"}); err != nil {
		return fmt.Errorf("kernel ipv6.disable=1: %w", err)
	}
	t.logf("kernel: ipv6.disable=1: no /proc/sys/net/ipv6, ip6tables fails")
	return nil
}

// sysctlDirs are systemd-sysctl's drop-in directories, highest priority
// first: a file name in an earlier directory masks the same name in the
// later ones.
func sysctlDirs() []string {
	return []string{"etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d"}
}

// sysctlConf is read after every drop-in, as distributions arrange.
const sysctlConf = "etc/sysctl.conf"

// sysctlSetting is one assignment from a sysctl.d file.
type sysctlSetting struct {
	// key is the dotted name, or a glob of it ("net.ipv4.conf.*.rp_filter").
	key string
	// value is what is written.
	value string
	// ignoreFailure is set by a leading "-": failing to write is fine.
	ignoreFailure bool
	// exclude is set by a "-key" line with no value: the key is not
	// written, and globs leave it alone.
	exclude bool
}

// path returns the setting's path under /proc/sys. As systemd does, a key
// whose first separator is "/" is a path already; otherwise dots
// separate its parts and slashes stand for dots (eth0/100 is eth0.100).
func (s sysctlSetting) path() string {
	if i := strings.IndexAny(s.key, "./"); i >= 0 && s.key[i] == '/' {
		return s.key
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, s.key)
}

// perNetns says the setting belongs to a network namespace: only those
// under net/ipv4 and net/ipv6 are applied in the twin; the others would
// reach the machine.
func (s sysctlSetting) perNetns() bool {
	p := s.path()
	return strings.HasPrefix(p, "net/ipv4/") || strings.HasPrefix(p, "net/ipv6/")
}

// isGlob says the key matches several entries.
func (s sysctlSetting) isGlob() bool { return strings.ContainsAny(s.key, "*?[") }

// sysctlFiles lists the files systemd-sysctl reads from root, in the order
// it applies them: drop-ins sorted by file name across directories, the
// highest-priority directory winning a name, then /etc/sysctl.conf.
func sysctlFiles(root fs.FS) ([]string, error) {
	chosen := make(map[string]string)
	for _, dir := range sysctlDirs() {
		entries, err := fs.ReadDir(root, dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sysctl.d: %w", err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".conf") || e.IsDir() {
				continue
			}
			if _, ok := chosen[e.Name()]; !ok {
				chosen[e.Name()] = dir + "/" + e.Name()
			}
		}
	}
	names := make([]string, 0, len(chosen))
	for name := range chosen {
		names = append(names, name)
	}
	slices.Sort(names)
	files := make([]string, 0, len(names)+1)
	for _, name := range names {
		files = append(files, chosen[name])
	}
	if _, err := fs.Stat(root, sysctlConf); err == nil {
		files = append(files, sysctlConf)
	}
	return files, nil
}

// readSysctl reads the settings of files from root in order. A later
// assignment of a key replaces the earlier one and moves to the end.
func readSysctl(root fs.FS, files []string) ([]sysctlSetting, error) {
	var order []sysctlSetting
	for _, f := range files {
		data, err := fs.ReadFile(root, f)
		if err != nil {
			return nil, fmt.Errorf("sysctl: %w", err)
		}
		for _, s := range parseSysctl(data) {
			order = slices.DeleteFunc(order, func(o sysctlSetting) bool { return o.key == s.key })
			order = append(order, s)
		}
	}
	return order, nil
}

// parseSysctl parses a sysctl.d(5) file.
func parseSysctl(data []byte) []sysctlSetting {
	var out []sysctlSetting
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		var s sysctlSetting
		if strings.HasPrefix(key, "-") {
			s.ignoreFailure = true
			key = strings.TrimSpace(key[1:])
		}
		if key == "" || (!ok && !s.ignoreFailure) {
			continue
		}
		s.key, s.value, s.exclude = key, strings.TrimSpace(value), !ok
		out = append(out, s)
	}
	return out
}

// systemdSysctl does what systemd-sysctl.service does, reading the files
// from the twin's disk, but writes only the per-network-namespace keys,
// inside the host's network namespace. Failures to write are journaled,
// as systemd-sysctl logs them, and do not stop the boot.
func (t *Twin) systemdSysctl() error {
	root := t.hostFS()
	files, err := sysctlFiles(root)
	if err != nil {
		return fmt.Errorf("systemd-sysctl: %w", err)
	}
	settings, err := readSysctl(root, files)
	if err != nil {
		return fmt.Errorf("systemd-sysctl: %w", err)
	}
	var mine []sysctlSetting
	ignored := 0
	for _, s := range settings {
		if s.perNetns() {
			mine = append(mine, s)
		} else {
			ignored++
		}
	}
	err = t.writeSysctls(mine)
	t.logf("systemd-sysctl: %d settings from %s; %d global ones not applied", len(mine), strings.Join(files, ", "), ignored)
	if err != nil {
		t.logf("systemd-sysctl: %v", err)
	}
	return nil
}

// writeSysctls writes settings, in order, under /proc/sys from a thread in
// the host's network namespace, expanding globs there; an explicit setting
// wins over a glob that matches the same entry. It refuses any setting
// that is not per network namespace.
func (t *Twin) writeSysctls(settings []sysctlSetting) error {
	if err := t.guard(); err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	explicit := make(map[string]bool)
	for _, s := range settings {
		if !s.perNetns() {
			return fmt.Errorf("sysctl %q: not a per-network-namespace key", s.key)
		}
		if !s.isGlob() {
			explicit[s.path()] = true
		}
	}
	var errs []error
	err := ns.WithNetNSPath(t.NetNS(Host), func(ns.NetNS) error {
		for _, s := range settings {
			if s.exclude {
				continue
			}
			paths := []string{s.path()}
			if t.ipv6Off && strings.HasPrefix(s.path(), "net/ipv6/") {
				// The kernel has no /proc/sys/net/ipv6 (kernelIPv6).
				if !s.isGlob() && !s.ignoreFailure {
					errs = append(errs, fmt.Errorf("sysctl %q = %q: %w", s.key, s.value, fs.ErrNotExist))
				}
				continue
			}
			if s.isGlob() {
				matches, err := filepath.Glob("/proc/sys/" + s.path())
				if err != nil {
					errs = append(errs, fmt.Errorf("sysctl %q: %w", s.key, err))
					continue
				}
				paths = paths[:0]
				for _, m := range matches {
					if p := strings.TrimPrefix(m, "/proc/sys/"); !explicit[p] {
						paths = append(paths, p)
					}
				}
			}
			for _, p := range paths {
				err := writeProcSys(p, s.value)
				if err != nil && !s.ignoreFailure {
					errs = append(errs, fmt.Errorf("sysctl %q = %q: %w", strings.ReplaceAll(p, "/", "."), s.value, err))
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sysctl in %s: %w", t.nsName(Host), err)
	}
	return errors.Join(errs...)
}

// writeProcSys writes value to /proc/sys/p from the calling thread.
func writeProcSys(p, value string) error {
	f, err := os.OpenFile("/proc/sys/"+p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(value + "\n")
	cerr := f.Close()
	return errors.Join(werr, cerr)
}
