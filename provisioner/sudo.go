package provisioner

import (
	"strings"

	"github.com/cisecs/cisecs/provisioner/hostscript"
)

// sudoPasswordRequired is what sudo -n prints when the user's rule asks for
// a password.
const sudoPasswordRequired = "a password is required"

// SudoLockedOut reports whether the script never ran because sudo -n
// wanted a password: CIS Level 2 "Ensure users must provide password for
// privilege escalation" (RHEL9-CIS, UBUNTU24-CIS 5.2.4) turns NOPASSWD
// into PASSWD for every user its exclude list does not spare (ec2-user and
// vagrant; not Ubuntu's ubuntu or RHEL's cloud-user).
func (e *ExitError) SudoLockedOut() bool {
	return strings.HasPrefix(e.Command, "sudo -n ") && strings.Contains(e.Stderr, sudoPasswordRequired)
}

// sudoWayOut says what to do about a SudoLockedOut error.
func sudoWayOut() string {
	return "sudo asks the build user for a password: CIS Level 2 \"Ensure users must provide password for privilege escalation\" " +
		"(RHEL9-CIS and UBUNTU24-CIS 5.2.4) replaced its NOPASSWD; give the build user a sudoers drop-in in the build instance's user data " +
		"(echo 'USER ALL=(ALL) NOPASSWD:ALL' >" + hostscript.SudoDropIn + "; chmod 0440 " + hostscript.SudoDropIn + "), " +
		"which the cleanup step removes before the snapshot, or add the user to the hardening's sudoers_exclude_nopasswd_list"
}
