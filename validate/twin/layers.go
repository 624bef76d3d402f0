package twin

// layerMaskedPaths are the machine's files of the CIS layers beyond the
// firewall (SELinux, auditd, module rules, AppArmor, sudo, time sources,
// the mount table) and the commands that would act on the machine's own
// kernel for them: each baseline ships the files its hardening writes
// (baselines/*/etc/{selinux,audit,modprobe.d,apparmor.d,sudoers*,chrony*,
// systemd/timesyncd.conf.d}), and a test that needs one of the commands
// puts a stand-in for the OS's on the twin's PATH.
func layerMaskedPaths() []string {
	return []string{
		"/etc/selinux", "/etc/audit", "/etc/modprobe.d", "/usr/lib/modprobe.d", "/usr/local/lib/modprobe.d",
		"/etc/apparmor.d", "/etc/sudoers", "/etc/sudoers.d", "/etc/chrony.conf", "/etc/chrony",
		"/etc/systemd/timesyncd.conf", "/etc/systemd/timesyncd.conf.d", "/etc/fstab",
		"/usr/sbin/getenforce", "/usr/sbin/sestatus", "/usr/sbin/setenforce", "/usr/sbin/selinuxenabled", "/usr/sbin/restorecon",
		"/usr/sbin/apparmor_parser", "/sbin/apparmor_parser", "/usr/sbin/aa-status", "/usr/sbin/apparmor_status",
		"/usr/sbin/aa-enforce", "/usr/sbin/aa-complain",
	}
}
