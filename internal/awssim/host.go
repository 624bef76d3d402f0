package awssim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// BootIDFile is the file that holds the kernel's boot id, a random UUID
// drawn at every boot. An SSM command that reads it (and does nothing
// else) gets the instance's boot id at the time the command was sent.
const BootIDFile = "/proc/sys/kernel/random/boot_id"

// span is a time from start to end (not included).
type span struct{ start, end time.Time }

func (p span) holds(t time.Time) bool { return !t.Before(p.start) && t.Before(p.end) }

// boots is how many times the instance has gone down for a reboot by now.
func (s *Server) boots(i *instance, now time.Time) int {
	n := 0
	for _, r := range i.reboots {
		if reached(r, s.o.Latencies.RebootDown, now) {
			n++
		}
	}
	return n
}

// BootID is the instance's boot id at now: a UUID that is the same for the
// whole of one boot, and new after each reboot.
func (s *Server) BootID(instance string, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.instances[instance]
	if !ok {
		return ""
	}
	return s.bootID(i, now)
}

func (s *Server) bootID(i *instance, now time.Time) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s boot %d", i.id, s.boots(i, now)))
	h := fmt.Sprintf("%x", sum[:16])
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// agentSeenDown says whether ECS reports the instance's agent disconnected
// at now: from Latencies.DisconnectSeen after the host went down for a
// reboot until the host is up again, during every ReconnectAgent, and
// from Latencies.DisconnectSeen after its agent died (KillAgent) on.
func (s *Server) agentSeenDown(i *instance, now time.Time) bool {
	for _, d := range i.agentDrops {
		if d.holds(now) {
			return true
		}
	}
	if !i.agentDied.IsZero() && reached(i.agentDied, s.o.Latencies.DisconnectSeen, now) {
		return true
	}
	if i.rebooted.IsZero() || s.o.Latencies.RebootDown >= Never || s.o.Latencies.DisconnectSeen >= Never {
		return false
	}
	seen := after(i.rebooted, s.o.Latencies.RebootDown+s.o.Latencies.DisconnectSeen)
	return !now.Before(seen) && !reached(i.rebooted, s.o.Latencies.Reboot, now)
}

// ReconnectAgent has the instance's agent lose its connection to ECS now
// and make a new one after down, without a reboot (as it does when its
// connection is dropped): ECS reports it disconnected for down. It reports
// whether the instance is the front's.
func (s *Server) ReconnectAgent(instance string, down time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.instances[instance]
	if !ok {
		return false
	}
	now := s.clock.Now()
	i.agentDrops = append(i.agentDrops, span{now, after(now, down)})
	return true
}

// KillAgent has the instance's ECS agent die now, for good (as when it
// crashes and systemd gives up, or the host hangs): ECS reports it
// disconnected after Latencies.DisconnectSeen, and hears nothing more of
// its tasks. They do not stop, whether they exit, StopTask comes or the
// instance terminates (they stay RUNNING or PENDING, desired STOPPED once
// asked), and ECS does not deregister the instance when it terminates:
// only DeregisterContainerInstance with force makes them STOPPED. It
// reports whether the instance is the front's.
func (s *Server) KillAgent(instance string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.instances[instance]
	if !ok {
		return false
	}
	if i.agentDied.IsZero() {
		i.agentDied = s.clock.Now()
	}
	return true
}

// hostFiles plays, in the answer rep of GetCommandInvocation for the
// command id, the files of the host the front knows: a done command that
// reads BootIDFile, and only that, outputs the boot id the instance had
// when the command was sent. Any other answer is rep. s.mu is held.
func (s *Server) hostFiles(rep reply, id string) reply {
	cmd, ok := s.commands[id]
	if rep.status != 200 || !ok || len(cmd.commands) != 1 || !readsBootID(cmd.commands[0]) {
		return rep
	}
	var out map[string]any
	if err := json.Unmarshal(rep.body, &out); err != nil || out["Status"] == "InProgress" {
		return rep
	}
	i, ok := s.instances[cmd.instance]
	if !ok {
		return rep
	}
	out["Status"], out["StatusDetails"], out["ResponseCode"] = "Success", "Success", 0
	out["StandardOutputContent"], out["StandardErrorContent"] = s.bootID(i, cmd.sent)+"\n", ""
	return jsonReply(out)
}

// readsBootID says whether the shell command line only prints BootIDFile.
func readsBootID(line string) bool {
	f := strings.Fields(line)
	return len(f) == 2 && f[0] == "cat" && f[1] == BootIDFile
}
