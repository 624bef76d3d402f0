package pipeline

import (
	"fmt"
	"regexp"
	"slices"
)

// action is a GitHub action the workflow uses, pinned to the commit of one
// release: a tag can be moved by whoever owns the repository, a commit
// cannot. Tag is that release, written beside the pin for reviewers and
// for Dependabot, which updates both (see DependabotConfig).
type action struct {
	Repo, Tag, Commit string
}

// actions are the actions the workflows use. Each commit is what the tag
// named in the action's repository (git rev-parse TAG^{commit}) when it
// was pinned; the major versions are those actionlint knows the inputs of.
var actions = []action{
	{"actions/checkout", "v6.1.0", "d23441a48e516b6c34aea4fa41551a30e30af803"},
	{"actions/setup-go", "v6.5.0", "924ae3a1cded613372ab5595356fb5720e22ba16"},
	{"actions/cache", "v5.0.5", "27d5ce7f107fe9357f9df03efb73ab90386fccae"},
	{"actions/upload-artifact", "v6.0.0", "b7c566a772e6b6bfb58ed0dc250532a479d7789f"},
	{"actions/download-artifact", "v7.0.0", "37930b1c2abaa49bbe596cd826c3c89aef350131"},
	{"aws-actions/configure-aws-credentials", "v6.2.3", "e6de054238d6b7531b4efff3b6587d9aade6a06c"},
}

// pinRE is a pinned uses: value: the repository, the commit, the tag.
var pinRE = regexp.MustCompile(`(?m)\buses: ([a-z0-9-]+/[a-z0-9-]+)@([0-9a-f]{40}) # (v\d+(?:\.\d+)*)$`)

// PinsIn returns the actions pinned in a workflow rendered before, by
// repository: where Dependabot has moved a pin on since, the workflow
// rendered again keeps it (RenderKeeping). Lines that are not a pinned
// commit with its tag are ignored.
func PinsIn(old []byte) map[string]string {
	pins := map[string]string{}
	for _, m := range pinRE.FindAllSubmatch(old, -1) {
		pins[string(m[1])] = string(m[2]) + " # " + string(m[3])
	}
	return pins
}

// usesFunc returns the template function that gives the value of a
// workflow's uses: key for an action: the pin in keep if it names the
// action, else the one cisecs ships.
func usesFunc(keep map[string]string) func(string) (string, error) {
	return func(repo string) (string, error) {
		i := slices.IndexFunc(actions, func(a action) bool { return a.Repo == repo })
		if i < 0 {
			return "", fmt.Errorf("action %q is not pinned in pipeline.actions", repo)
		}
		if pin, ok := keep[repo]; ok {
			return repo + "@" + pin, nil
		}
		a := actions[i]
		return a.Repo + "@" + a.Commit + " # " + a.Tag, nil
	}
}

// DependabotConfig is a Dependabot configuration (.github/dependabot.yml)
// that proposes, as pull requests to review, the new releases of the
// actions the workflow pins, each pin moved with its tag comment.
const DependabotConfig = `# Written by "cisecs pipeline --dependabot".
# Dependabot proposes new releases of the GitHub actions the cisecs workflow
# pins to commits, as pull requests to review. "cisecs pipeline -o FILE"
# keeps the pins of the workflow it rewrites, so a merged update stays.
version: 2
updates:
  - package-ecosystem: github-actions
    directory: /
    schedule:
      interval: weekly
    groups:
      github-actions:
        patterns:
          - "*"
`
