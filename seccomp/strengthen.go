package seccomp

import (
	"cmp"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Strengthen intersects a container's own profile with the class's, deny
// rules winning, for every system call either names (and, through the
// default action, every other):
//
//   - the class blocks it: blocked, with the class's action and errno (so
//     io_uring and clone3 keep ENOSYS);
//   - the own profile blocks it: blocked, with the own profile's action;
//   - both let it through unconditionally: allowed (logged or traced if
//     either side logs or traces it);
//   - one side conditional, the other allowing it unconditionally: the
//     conditional side's rules, when that side denies by default (an allow
//     list). A conditional side that allows by default holds deny lists,
//     which a deny-by-default filter cannot express: the call is denied, with
//     a note;
//   - both conditional: identical rule sets are kept; conditions on one
//     argument index where one side allows a finite set of values (EQ rules
//     or a small "below N", e.g. socket families) become the set of values
//     both sides allow;
//     masked "no such flag" conditions on one index (clone, unshare) become
//     one mask; anything else is denied, with a note.
//
// The result denies by default with the class's default action (the own
// profile's if the class allows by default), uses the class's architectures
// (native only for hardened) and flags, and drops the own profile's
// listenerPath, listenerMetadata and flags (each with a note; a
// SCMP_ACT_NOTIFY the dropped listener would have answered becomes a denial).
// No emitted rule has two conditions on one argument index: runc ORs those
// (libcontainer/seccomp adds one rule per condition on the same index).
// Rules are grouped: one rule per unconditional outcome, then conditional
// rules per system call.
func Strengthen(own, class *specs.LinuxSeccomp) (*specs.LinuxSeccomp, []string, error) {
	if own == nil || class == nil {
		return nil, nil, errors.New("seccomp strengthen: both profiles are needed")
	}
	n := &notes{}
	ownEff := withoutNotify(own, n)
	if own.ListenerPath != "" {
		n.add("listenerPath dropped (the own profile's seccomp agent is not used)", own.ListenerPath)
	}
	if own.ListenerMetadata != "" {
		n.add("listenerMetadata dropped", "")
	}
	for _, f := range own.Flags {
		n.add("own profile flags dropped", string(f))
	}

	def := outcome{class.DefaultAction, class.DefaultErrnoRet}
	if !IsDeny(def.action) && IsDeny(ownEff.DefaultAction) {
		def = outcome{ownEff.DefaultAction, ownEff.DefaultErrnoRet}
	}
	oi, ci := indexNames(ownEff), indexNames(class)
	names := slices.Sorted(maps.Keys(oi))
	for name := range ci {
		if _, ok := oi[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	uncond := map[outcomeKey]*specs.LinuxSyscall{}
	var keys []outcomeKey
	var conditional []specs.LinuxSyscall
	for _, name := range names {
		o, c := verdictOf(ownEff, oi, name), verdictOf(class, ci, name)
		r := combine(name, o, c, def, n)
		if r.rules != nil {
			conditional = append(conditional, r.rules...)
			continue
		}
		if r.out.same(def) {
			continue // the default action does the same
		}
		k := r.out.key()
		if uncond[k] == nil {
			uncond[k] = &specs.LinuxSyscall{Action: r.out.action, ErrnoRet: cloneUint(r.out.errno)}
			keys = append(keys, k)
		}
		uncond[k].Names = append(uncond[k].Names, name)
	}
	slices.SortFunc(keys, func(a, b outcomeKey) int {
		return cmp.Or(cmp.Compare(a.action, b.action), cmp.Compare(a.errno, b.errno), cmp.Compare(b2i(a.hasErrno), b2i(b.hasErrno)))
	})
	out := &specs.LinuxSeccomp{
		DefaultAction:   def.action,
		DefaultErrnoRet: cloneUint(def.errno),
		Architectures:   slices.Clone(class.Architectures),
		Flags:           slices.Clone(class.Flags),
	}
	for _, k := range keys {
		out.Syscalls = append(out.Syscalls, *uncond[k])
	}
	out.Syscalls = append(out.Syscalls, conditional...)
	return out, n.list(), nil
}

// outcome is one action with its errno (or trace message).
type outcome struct {
	action specs.LinuxSeccompAction
	errno  *uint
}

type outcomeKey struct {
	action   specs.LinuxSeccompAction
	errno    uint
	hasErrno bool
}

func (o outcome) key() outcomeKey {
	if o.errno == nil {
		return outcomeKey{action: o.action}
	}
	return outcomeKey{action: o.action, errno: *o.errno, hasErrno: true}
}

// same reports whether two outcomes behave alike (runc returns EPERM for an
// ERRNO without errnoRet).
func (o outcome) same(x outcome) bool {
	return o.action == x.action && errnoOf(o.errno) == errnoOf(x.errno)
}

func errnoOf(e *uint) uint {
	if e == nil {
		return uint(unix.EPERM)
	}
	return *e
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cloneUint(p *uint) *uint {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// mergeAllow combines two outcomes that let a call through: a log or trace
// on either side is kept (own's first).
func mergeAllow(own, class outcome) outcome {
	if own.action == specs.ActAllow {
		return class
	}
	return own
}

type verdictKind int

const (
	vDeny  verdictKind = iota // refused whatever the arguments
	vAllow                    // let through whatever the arguments
	vCond                     // depends on the arguments
)

// verdict is what one profile does with one system call.
type verdict struct {
	kind  verdictKind
	out   outcome              // vDeny, vAllow
	rules []specs.LinuxSyscall // vCond: the conditional rules naming the call, Names reduced to it
	def   outcome              // vCond: what happens when no rule matches
}

// ruleShape classifies a conditional verdict.
type ruleShape int

const (
	shapeMixed     ruleShape = iota
	shapeAllowList           // deny by default, every rule lets through
	shapeDenyList            // let through by default, every rule denies
)

func (v verdict) shape() ruleShape {
	def := IsDeny(v.def.action)
	for _, r := range v.rules {
		if IsDeny(r.Action) == def {
			return shapeMixed
		}
	}
	if def {
		return shapeAllowList
	}
	return shapeDenyList
}

func indexNames(p *specs.LinuxSeccomp) map[string][]int {
	idx := map[string][]int{}
	for i := range p.Syscalls {
		for _, n := range p.Syscalls[i].Names {
			if n != "" && !slices.Contains(idx[n], i) {
				idx[n] = append(idx[n], i)
			}
		}
	}
	return idx
}

// verdictOf is what p does with one call, libseccomp's way: an
// unconditional rule overrides conditional rules for the same call (a deny
// winning over an allow), conditional rules decide otherwise, and the
// default action applies when no rule names the call.
func verdictOf(p *specs.LinuxSeccomp, idx map[string][]int, name string) verdict {
	def := outcome{p.DefaultAction, p.DefaultErrnoRet}
	var (
		allow *outcome
		cond  []specs.LinuxSyscall
	)
	for _, i := range idx[name] {
		r := &p.Syscalls[i]
		o := outcome{r.Action, r.ErrnoRet}
		if len(r.Args) == 0 {
			if IsDeny(r.Action) {
				return verdict{kind: vDeny, out: o}
			}
			if allow == nil {
				allow = &o
			}
			continue
		}
		cond = append(cond, specs.LinuxSyscall{Names: []string{name}, Action: r.Action, ErrnoRet: cloneUint(r.ErrnoRet), Args: slices.Clone(r.Args)})
	}
	switch {
	case allow != nil:
		return verdict{kind: vAllow, out: *allow}
	case len(cond) == 0 && IsDeny(def.action):
		return verdict{kind: vDeny, out: def}
	case len(cond) == 0:
		return verdict{kind: vAllow, out: def}
	}
	v := verdict{kind: vCond, rules: cond, def: def}
	allDeny, noneDeny := true, true
	for _, r := range cond {
		if IsDeny(r.Action) {
			noneDeny = false
		} else {
			allDeny = false
		}
	}
	switch {
	case IsDeny(def.action) && allDeny:
		return verdict{kind: vDeny, out: def}
	case !IsDeny(def.action) && noneDeny:
		return verdict{kind: vAllow, out: def}
	}
	return v
}

// result is the combined treatment of one call: rules (conditional) or one
// unconditional outcome.
type result struct {
	out   outcome
	rules []specs.LinuxSyscall
}

func combine(name string, o, c verdict, def outcome, n *notes) result {
	deny := func(reason string) result {
		n.add(reason, name)
		if IsDeny(def.action) {
			return result{out: def}
		}
		return result{out: outcome{action: specs.ActErrno}}
	}
	switch {
	case c.kind == vDeny:
		return result{out: c.out}
	case o.kind == vDeny:
		return result{out: o.out}
	case o.kind == vAllow && c.kind == vAllow:
		return result{out: mergeAllow(o.out, c.out)}
	case c.kind == vCond && o.kind == vAllow:
		return condWithAllow(c, o.out, false, def, deny)
	case o.kind == vCond && c.kind == vAllow:
		return condWithAllow(o, c.out, true, def, deny)
	}
	// Both conditional.
	os, cs := o.shape(), c.shape()
	if os == shapeAllowList && cs == shapeAllowList && sameRules(o.rules, c.rules) {
		return result{rules: c.rules}
	}
	if rules, ok := valueSet(name, o, c); ok {
		if len(rules) == 0 {
			if IsDeny(def.action) {
				return result{out: def}
			}
			return result{out: outcome{action: specs.ActErrno}}
		}
		return result{rules: rules}
	}
	if os == shapeAllowList && cs == shapeAllowList {
		if r, ok := maskedNoFlags(name, o, c); ok {
			return result{rules: []specs.LinuxSyscall{r}}
		}
	}
	if os == shapeDenyList && cs == shapeDenyList && !IsDeny(def.action) {
		return result{rules: append(slices.Clone(o.rules), c.rules...)}
	}
	return deny("argument conditions of the own profile and the class profile cannot be combined; denied")
}

// condWithAllow is x's conditions where the other side lets the call
// through whatever its arguments.
func condWithAllow(x verdict, other outcome, xIsOwn bool, def outcome, deny func(string) result) result {
	switch x.shape() {
	case shapeAllowList:
		rules := slices.Clone(x.rules)
		for i := range rules {
			ro := outcome{rules[i].Action, rules[i].ErrnoRet}
			if xIsOwn {
				ro = mergeAllow(ro, other)
			} else {
				ro = mergeAllow(other, ro)
			}
			rules[i].Action, rules[i].ErrnoRet = ro.action, cloneUint(ro.errno)
		}
		return result{rules: rules}
	case shapeDenyList:
		if !IsDeny(def.action) {
			return result{rules: slices.Clone(x.rules)}
		}
		who := "the class profile"
		if xIsOwn {
			who = "the own profile"
		}
		return deny(who + " allows by default and denies some arguments, which a deny-by-default filter cannot express; denied")
	}
	return deny("argument conditions that both allow and deny cannot be combined; denied")
}

func sameRules(a, b []specs.LinuxSyscall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Action != y.Action || errnoOf(x.ErrnoRet) != errnoOf(y.ErrnoRet) || len(x.Args) != len(y.Args) {
			return false
		}
		if len(x.Args) > 0 && !reflect.DeepEqual(x.Args, y.Args) {
			return false
		}
	}
	return true
}

// valueSet combines two conditional verdicts whose rules each hold one
// condition, all on the same argument index, where one side allows a finite
// set of values (EQ rules, or "below N" for a small N, under a deny
// default): the result allows the values of that set both sides allow, as
// one "below N" rule for a run starting at 0 and one EQ rule for each other
// value.
func valueSet(name string, o, c verdict) ([]specs.LinuxSyscall, bool) {
	index := -1
	for _, r := range slices.Concat(o.rules, c.rules) {
		if len(r.Args) != 1 || (index >= 0 && int(r.Args[0].Index) != index) {
			return nil, false
		}
		index = int(r.Args[0].Index)
	}
	finite := func(v verdict) ([]uint64, bool) {
		if v.shape() != shapeAllowList {
			return nil, false
		}
		var vals []uint64
		for _, r := range v.rules {
			a := r.Args[0]
			switch {
			case a.Op == specs.OpEqualTo:
				vals = append(vals, a.Value)
			case a.Op == specs.OpLessThan && a.Value <= maxRangeValues:
				for x := uint64(0); x < a.Value; x++ {
					vals = append(vals, x)
				}
			case a.Op == specs.OpLessEqual && a.Value < maxRangeValues:
				for x := uint64(0); x <= a.Value; x++ {
					vals = append(vals, x)
				}
			default:
				return nil, false
			}
		}
		return vals, true
	}
	cand, ok := finite(c)
	if !ok {
		if cand, ok = finite(o); !ok {
			return nil, false
		}
	}
	slices.Sort(cand)
	cand = slices.Compact(cand)
	var out []specs.LinuxSyscall
	run := uint64(0) // values 0..run-1 are allowed with the same outcome: one LT rule
	var runOut outcome
	for _, v := range cand {
		oo, ok1, known1 := passes(o, v)
		co, ok2, known2 := passes(c, v)
		if !known1 || !known2 {
			return nil, false
		}
		if !ok1 || !ok2 {
			continue
		}
		r := mergeAllow(oo, co)
		if v == run && (run == 0 || r.same(runOut)) {
			run, runOut = v+1, r
			continue
		}
		out = append(out, specs.LinuxSyscall{Names: []string{name}, Action: r.action, ErrnoRet: cloneUint(r.errno),
			Args: []specs.LinuxSeccompArg{{Index: uint(index), Value: v, Op: specs.OpEqualTo}}})
	}
	if run == 1 {
		out = slices.Insert(out, 0, specs.LinuxSyscall{Names: []string{name}, Action: runOut.action, ErrnoRet: cloneUint(runOut.errno),
			Args: []specs.LinuxSeccompArg{{Index: uint(index), Value: 0, Op: specs.OpEqualTo}}})
	} else if run > 1 {
		// A one-sided range: runc ORs two conditions on one index, so a
		// bounded range could not be one rule.
		out = slices.Insert(out, 0, specs.LinuxSyscall{Names: []string{name}, Action: runOut.action, ErrnoRet: cloneUint(runOut.errno),
			Args: []specs.LinuxSeccompArg{{Index: uint(index), Value: run, Op: specs.OpLessThan}}})
	}
	return out, true
}

// maxRangeValues bounds the values a "below N" condition is expanded to
// when two conditional profiles are intersected value by value.
const maxRangeValues = 4096

// passes evaluates a single-condition verdict for one argument value: the
// outcome that lets it through, whether it does, and whether the verdict's
// shape and operators could be evaluated at all.
func passes(v verdict, val uint64) (outcome, bool, bool) {
	shape := v.shape()
	if shape == shapeMixed {
		return outcome{}, false, false
	}
	for _, r := range v.rules {
		m, known := matches(r.Args[0], val)
		if !known {
			return outcome{}, false, false
		}
		if m && shape == shapeAllowList {
			return outcome{r.Action, r.ErrnoRet}, true, true
		}
		if m && shape == shapeDenyList {
			return outcome{}, false, true
		}
	}
	if shape == shapeDenyList {
		return v.def, true, true
	}
	return outcome{}, false, true
}

func matches(a specs.LinuxSeccompArg, v uint64) (bool, bool) {
	switch a.Op {
	case specs.OpEqualTo:
		return v == a.Value, true
	case specs.OpNotEqual:
		return v != a.Value, true
	case specs.OpLessThan:
		return v < a.Value, true
	case specs.OpLessEqual:
		return v <= a.Value, true
	case specs.OpGreaterThan:
		return v > a.Value, true
	case specs.OpGreaterEqual:
		return v >= a.Value, true
	case specs.OpMaskedEqual:
		return v&a.Value == a.ValueTwo, true
	}
	return false, false
}

// maskedNoFlags combines two allow lists of one "none of these bits" rule
// each on the same index (clone, unshare without namespace flags): the
// result forbids the bits of both masks.
func maskedNoFlags(name string, o, c verdict) (specs.LinuxSyscall, bool) {
	one := func(v verdict) (specs.LinuxSeccompArg, bool) {
		if len(v.rules) != 1 || len(v.rules[0].Args) != 1 {
			return specs.LinuxSeccompArg{}, false
		}
		a := v.rules[0].Args[0]
		return a, a.Op == specs.OpMaskedEqual && a.ValueTwo == 0
	}
	a, ok1 := one(o)
	b, ok2 := one(c)
	if !ok1 || !ok2 || a.Index != b.Index {
		return specs.LinuxSyscall{}, false
	}
	r := mergeAllow(outcome{o.rules[0].Action, o.rules[0].ErrnoRet}, outcome{c.rules[0].Action, c.rules[0].ErrnoRet})
	return specs.LinuxSyscall{Names: []string{name}, Action: r.action, ErrnoRet: cloneUint(r.errno),
		Args: []specs.LinuxSeccompArg{{Index: a.Index, Value: a.Value | b.Value, ValueTwo: 0, Op: specs.OpMaskedEqual}}}, true
}

// withoutNotify returns own with every SCMP_ACT_NOTIFY (default or rule)
// turned into ERRNO/EPERM: the listener that would answer it is dropped.
func withoutNotify(own *specs.LinuxSeccomp, n *notes) *specs.LinuxSeccomp {
	p := *own
	if p.DefaultAction == specs.ActNotify {
		p.DefaultAction, p.DefaultErrnoRet = specs.ActErrno, nil
		n.add("SCMP_ACT_NOTIFY (seccomp agent) without its listener: denied", "default action")
	}
	p.Syscalls = slices.Clone(own.Syscalls)
	for i := range p.Syscalls {
		if p.Syscalls[i].Action == specs.ActNotify {
			p.Syscalls[i].Action, p.Syscalls[i].ErrnoRet = specs.ActErrno, nil
			for _, name := range p.Syscalls[i].Names {
				n.add("SCMP_ACT_NOTIFY (seccomp agent) without its listener: denied", name)
			}
		}
	}
	return &p
}

// notes collects reasons with the names they apply to, in first-seen order.
type notes struct {
	order []string
	names map[string][]string
}

func (n *notes) add(reason, name string) {
	if n.names == nil {
		n.names = map[string][]string{}
	}
	if _, ok := n.names[reason]; !ok {
		n.order = append(n.order, reason)
	}
	if name != "" && !slices.Contains(n.names[reason], name) {
		n.names[reason] = append(n.names[reason], name)
	}
}

func (n *notes) list() []string {
	var out []string
	for _, r := range n.order {
		if names := n.names[r]; len(names) > 0 {
			out = append(out, strings.Join(names, ", ")+": "+r)
		} else {
			out = append(out, r)
		}
	}
	return out
}
