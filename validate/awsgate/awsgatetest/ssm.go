package awsgatetest

import (
	"fmt"
	"slices"
	"time"
)

// command is an SSM Run Command invocation on one instance (kumo has no
// Run Command).
type command struct {
	id, instance, doc string
	commands          []string
	sent              time.Time
}

func (s *Server) sendCommand(c *call) reply {
	doc := str(c.json, "DocumentName")
	if doc != "AWS-RunShellScript" {
		return clientError(jsonProtocol, "InvalidDocument", fmt.Sprintf("document %q: this emulator runs AWS-RunShellScript only", doc))
	}
	ids := strs(c.json, "InstanceIds")
	if len(ids) != 1 {
		return clientError(jsonProtocol, "InvalidParameters", "this emulator sends a command to exactly one instance")
	}
	i, ok := s.instances[ids[0]]
	if !ok {
		return clientError(jsonProtocol, "InvalidInstanceId", fmt.Sprintf("Instances [[%s]] not in a valid state for account 000000000000", ids[0]))
	}
	if _, state := s.state(i, c.now); state != "running" || s.rebooting(i, c.now) {
		return clientError(jsonProtocol, "InvalidInstanceId", fmt.Sprintf("Instances [[%s]] not in a valid state for account 000000000000", ids[0]))
	}
	var cmds []string
	if p := obj(c.json, "Parameters"); p != nil {
		cmds = strs(p, "commands")
	}
	if len(cmds) == 0 {
		return clientError(jsonProtocol, "InvalidParameters", "commands is required")
	}
	cmd := &command{id: s.nextID("cmd-"), instance: i.id, doc: doc, commands: cmds, sent: c.now}
	s.commands[cmd.id] = cmd
	return jsonReply(map[string]any{"Command": map[string]any{
		"CommandId":    cmd.id,
		"DocumentName": doc,
		"InstanceIds":  ids,
		"Status":       "Pending",
		"Parameters":   map[string]any{"commands": cmds},
	}})
}

// getCommandInvocation: the invocation does not exist for the first half
// of Latencies.Command, is in progress for the second, then done.
func (s *Server) getCommandInvocation(c *call) reply {
	cmd, ok := s.commands[str(c.json, "CommandId")]
	if !ok || cmd.instance != str(c.json, "InstanceId") || !reached(cmd.sent, s.o.Latencies.Command/2, c.now) {
		return clientError(jsonProtocol, "InvocationDoesNotExist", "")
	}
	out := map[string]any{
		"CommandId":    cmd.id,
		"InstanceId":   cmd.instance,
		"DocumentName": cmd.doc,
		"Status":       "InProgress",
		"ResponseCode": -1,
	}
	if reached(cmd.sent, s.o.Latencies.Command, c.now) {
		stdout, stderr, success := "", "", true
		for _, line := range cmd.commands {
			if s.o.Command != nil {
				o, e, ok := s.o.Command(line)
				stdout, stderr, success = stdout+o, stderr+e, success && ok
			} else {
				stdout += "output of " + line + "\n"
			}
		}
		out["Status"], out["StatusDetails"], out["ResponseCode"] = "Success", "Success", 0
		if !success {
			out["Status"], out["StatusDetails"], out["ResponseCode"] = "Failed", "Failed", 1
		}
		out["StandardOutputContent"], out["StandardErrorContent"] = stdout, stderr
	}
	return jsonReply(out)
}

// Commands are the commands sent to instance, in order.
func (s *Server) Commands(instance string) [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cmds []*command
	for _, c := range s.commands {
		if c.instance == instance {
			cmds = append(cmds, c)
		}
	}
	slices.SortFunc(cmds, func(a, b *command) int { return a.sent.Compare(b.sent) })
	var out [][]string
	for _, c := range cmds {
		out = append(out, c.commands)
	}
	return out
}
