package awssim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
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

// imageDataType is the SSM data type of a parameter that holds an AMI id.
const imageDataType = "aws:ec2:image"

// imageParameter is a PutParameter of data type aws:ec2:image that SSM
// answered but has not yet checked.
type imageParameter struct {
	in  ssm.PutParameterInput
	due time.Time
}

// putParameter plays Parameter Store's PutParameter where kumo does not
// (kumo stores every value at once and changes any data type):
//
//   - a parameter's data type cannot change to or from aws:ec2:image
//     ("You can't change a parameter to or from either of these data
//     types", Parameter Store data types): ValidationException;
//   - a value of data type aws:ec2:image is checked asynchronously: the
//     call answers 200 with the next version at once, the value becomes
//     visible Latencies.ImageParameter later, and only if the AMI is in the
//     catalogue and available then; otherwise the parameter is neither
//     created nor updated, and nothing says so ("a successful HTTP 200
//     response does not guarantee that your parameter was successfully
//     created or updated", PutParameter).
//
// Other values go to kumo as they came.
func (s *Server) putParameter(c *call) reply {
	ctx := c.r.Context()
	kssm := ssm.NewFromConfig(config(s.o.Kumo, s.client))
	if err := s.settleParameters(ctx, kssm, c.now); err != nil {
		return sdkError(jsonProtocol, err)
	}
	name, dataType := str(c.json, "Name"), str(c.json, "DataType")
	if dataType == "" {
		dataType = "text"
	}
	cur, err := kssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	var notFound *ssmtypes.ParameterNotFound
	if err != nil && !errors.As(err, &notFound) {
		return sdkError(jsonProtocol, err)
	}
	overwrite, _ := c.json["Overwrite"].(bool)
	var version int64 = 1
	if err == nil {
		if !overwrite {
			return clientError(jsonProtocol, "ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		had := aws.ToString(cur.Parameter.DataType)
		if had == "" {
			had = "text"
		}
		if had != dataType && (had == imageDataType || dataType == imageDataType) {
			return clientError(jsonProtocol, "ValidationException",
				fmt.Sprintf("Parameter %s has data type %s: a parameter cannot be changed to or from data type %s.", name, had, imageDataType))
		}
		version = cur.Parameter.Version + 1
	}
	if dataType != imageDataType {
		return s.forwardOrError(c)
	}
	for _, p := range s.imageParams {
		if aws.ToString(p.in.Name) == name {
			version++
		}
	}
	s.imageParams = append(s.imageParams, &imageParameter{
		in: ssm.PutParameterInput{
			Name:        aws.String(name),
			Value:       aws.String(str(c.json, "Value")),
			Type:        ssmtypes.ParameterType(str(c.json, "Type")),
			DataType:    aws.String(dataType),
			Description: optional(str(c.json, "Description")),
			Overwrite:   aws.Bool(true),
		},
		due: after(c.now, s.o.Latencies.ImageParameter),
	})
	return jsonReply(map[string]any{"Version": version, "Tier": "Standard"})
}

// readParameters answers a read of Parameter Store from kumo, once the
// checks of aws:ec2:image values that are due are done.
func (s *Server) readParameters(c *call) reply {
	if m := ecsOptimizedRE.FindStringSubmatch(str(c.json, "Name")); m != nil && c.op == "GetParameter" {
		return s.ecsOptimizedParameter(m[0], m[1])
	}
	kssm := ssm.NewFromConfig(config(s.o.Kumo, s.client))
	if err := s.settleParameters(c.r.Context(), kssm, c.now); err != nil {
		return sdkError(jsonProtocol, err)
	}
	return s.forwardOrError(c)
}

// ecsOptimizedRE matches the public parameters AWS publishes for its
// recommended ECS-optimized AMIs; the submatch is the OS.
var ecsOptimizedRE = regexp.MustCompile(`^/aws/service/ecs/optimized-ami/(amazon-linux-2|amazon-linux-2023)(?:/arm64)?/recommended$`)

// ecsOptimizedParameter answers GetParameter of name, a public parameter
// of the ECS-optimized AMIs, as SSM does: a JSON value that names the
// agent release (Options.ECSAgentRelease).
func (s *Server) ecsOptimizedParameter(name, os string) reply {
	release := s.o.ECSAgentRelease
	if release == "" {
		release = DefaultECSAgentRelease
	}
	osName := map[string]string{"amazon-linux-2": "Amazon Linux 2", "amazon-linux-2023": "Amazon Linux 2023"}[os]
	value, _ := json.Marshal(map[string]any{
		"ecs_agent_version":   release,
		"ecs_runtime_version": "Docker version 25.0.8",
		"image_id":            "ami-0ec5000000000000" + map[string]string{"amazon-linux-2": "2", "amazon-linux-2023": "3"}[os],
		"image_name":          os + "-ami-ecs-hvm-2026.0.20261101-kernel-6.1-x86_64",
		"os":                  osName,
		"schema_version":      1,
		"source_image_name":   os + "-ami-minimal-2026.0.20261101.0-kernel-6.1-x86_64",
	})
	return jsonReply(map[string]any{"Parameter": map[string]any{
		"ARN":      "arn:aws:ssm:us-east-1::parameter" + name,
		"DataType": "text",
		"Name":     name,
		"Type":     "String",
		"Value":    string(value),
		"Version":  1,
	}})
}

// settleParameters does the checks of aws:ec2:image values due by now, in
// the order they were put: a value whose AMI is in the catalogue and
// available is stored in kumo; any other is dropped. s.mu is held.
func (s *Server) settleParameters(ctx context.Context, kssm *ssm.Client, now time.Time) error {
	var pending []*imageParameter
	for i, p := range s.imageParams {
		if now.Before(p.due) {
			pending = append(pending, p)
			continue
		}
		img, ok := s.images[aws.ToString(p.in.Value)]
		if !ok || img.State != "available" {
			continue
		}
		if _, err := kssm.PutParameter(ctx, &p.in); err != nil {
			s.imageParams = append(pending, s.imageParams[i:]...)
			return err
		}
	}
	s.imageParams = pending
	return nil
}

// forwardOrError sends c to kumo and returns its answer.
func (s *Server) forwardOrError(c *call) reply {
	rep, err := s.forward(c)
	if err != nil {
		return errorReply(c.proto, http.StatusBadGateway, "InternalError", err.Error())
	}
	return rep
}

func optional(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}
