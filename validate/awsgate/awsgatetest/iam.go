package awsgatetest

import (
	"fmt"
	"strings"
	"time"
)

// CreateInstanceProfile records that the instance profile name was
// created now (the front does not play IAM itself). IAM is eventually
// consistent: for Latencies.ProfileVisible after this, RunInstances
// refuses the profile, by name or ARN, as EC2 refuses one it does not see
// yet. A profile the front was not told of is taken as long made.
func (s *Server) CreateInstanceProfile(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.profiles == nil {
		s.profiles = map[string]time.Time{}
	}
	s.profiles[name] = s.clock.Now()
}

// checkProfile refuses a RunInstances whose instance profile EC2 does not
// see yet. s.mu is held.
func (s *Server) checkProfile(form map[string][]string, now time.Time) (reply, bool) {
	param, ref := "iamInstanceProfile.name", first(form["IamInstanceProfile.Name"])
	what := "name"
	if arn := first(form["IamInstanceProfile.Arn"]); arn != "" {
		param, ref, what = "iamInstanceProfile.arn", arn, "ARN"
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	created, ok := s.profiles[name]
	if ref == "" || !ok || reached(created, s.o.Latencies.ProfileVisible, now) {
		return reply{}, true
	}
	return clientError(queryProtocol, "InvalidParameterValue",
		fmt.Sprintf("Value (%s) for parameter %s is invalid. Invalid IAM Instance Profile %s", ref, param, what)), false
}
