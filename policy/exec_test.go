package policy

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestEvaluateExec(t *testing.T) {
	base := func() *specs.Process {
		s := loadSpec(t, "ctr-default.json")
		s.Process.NoNewPrivileges = true
		s.Process.User.UID = 1000
		s.Process.User.GID = 1000
		s.Process.User.AdditionalGids = []uint32{1000, 2000}
		s.Process.ApparmorProfile = "cri-containerd.apparmor.d"
		return s.Process
	}
	for _, tc := range []struct {
		name   string
		mutate func(p *specs.Process)
		want   string // field of the violation, "" for allowed
	}{
		{"same as container (CRI exec)", func(p *specs.Process) { p.Args = []string{"sh"} }, ""},
		{"fewer capabilities", func(p *specs.Process) { p.Capabilities.Effective = p.Capabilities.Effective[:1] }, ""},
		{"adds SYS_ADMIN", func(p *specs.Process) {
			p.Capabilities.Effective = append(p.Capabilities.Effective, "CAP_SYS_ADMIN")
		}, "process.capabilities.effective"},
		{"adds a bounding cap", func(p *specs.Process) {
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, "CAP_SYS_MODULE")
		}, "process.capabilities.bounding"},
		{"clears noNewPrivileges", func(p *specs.Process) { p.NoNewPrivileges = false }, "process.noNewPrivileges"},
		{"switches to root", func(p *specs.Process) { p.User.UID = 0 }, "process.user.uid"},
		{"switches to group root", func(p *specs.Process) { p.User.GID = 0 }, "process.user.gid"},
		{"adds supplementary group root", func(p *specs.Process) { p.User.AdditionalGids = append(p.User.AdditionalGids, 0) }, "process.user.additionalGids"},
		{"adds another supplementary group", func(p *specs.Process) { p.User.AdditionalGids = append(p.User.AdditionalGids, 6) }, "process.user.additionalGids"},
		{"keeps its supplementary groups", func(p *specs.Process) { p.Args = []string{"id"} }, ""},
		{"drops a supplementary group", func(p *specs.Process) { p.User.AdditionalGids = p.User.AdditionalGids[:1] }, ""},
		{"switches to its own supplementary group", func(p *specs.Process) { p.User.GID = 2000 }, ""},
		{"drops AppArmor", func(p *specs.Process) { p.ApparmorProfile = "unconfined" }, "process.apparmorProfile"},
		{"changes SELinux label", func(p *specs.Process) { p.SelinuxLabel = "system_u:system_r:spc_t:s0" }, ""},
		{"empty AppArmor profile inherits", func(p *specs.Process) { p.ApparmorProfile = "" }, ""},
		{"proc fd cwd", func(p *specs.Process) { p.Cwd = "/proc/self/fd/5" }, "process.cwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			e := base()
			tc.mutate(e)
			vs := EvaluateExec(c, e)
			if tc.want == "" {
				if len(vs) != 0 {
					t.Fatalf("unexpected violations %v", vs)
				}
				return
			}
			if len(vs) == 0 || vs[0].Field != tc.want || vs[0].Check != ExecCheckID {
				t.Fatalf("violations %v, want field %s", vs, tc.want)
			}
		})
	}
	t.Run("SELinux change refused when the container has a label", func(t *testing.T) {
		c, e := base(), base()
		c.SelinuxLabel = "system_u:system_r:container_t:s0:c1,c2"
		e.SelinuxLabel = "system_u:system_r:spc_t:s0"
		if vs := EvaluateExec(c, e); len(vs) != 1 || vs[0].Field != "process.selinuxLabel" {
			t.Fatalf("got %v", vs)
		}
	})
	t.Run("root container may exec as root", func(t *testing.T) {
		c, e := base(), base()
		c.User.UID, e.User.UID = 0, 0
		if vs := EvaluateExec(c, e); len(vs) != 0 {
			t.Fatalf("got %v", vs)
		}
	})
	t.Run("nil exec process", func(t *testing.T) {
		if vs := EvaluateExec(base(), nil); len(vs) != 1 || !strings.Contains(vs[0].Reason, "no process") {
			t.Fatalf("got %v", vs)
		}
	})
}

func TestEvaluateUpdate(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	container := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(136), Access: "rw"},
	}}
	for _, tc := range []struct {
		name   string
		update *specs.LinuxResources
		want   int
	}{
		{"no device rules (cpu/memory update)", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 30)}}, 0},
		{"nil", nil, 0},
		{"deny rule", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, 0},
		{"already allowed /dev/null", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}}}, 0},
		{"already allowed pty", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(136), Minor: i64(2), Access: "r"}}}, 0},
		{"mknod on pty not allowed", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(136), Minor: i64(2), Access: "m"}}}, 1},
		{"block device", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "b", Major: i64(254), Minor: i64(0), Access: "rw"}}}, 1},
		{"allow all", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := EvaluateUpdate(container, tc.update)
			if len(vs) != tc.want {
				t.Fatalf("violations %v, want %d", vs, tc.want)
			}
			for _, v := range vs {
				if v.Check != UpdateCheckID || !strings.Contains(v.Field, "resources.devices") {
					t.Errorf("violation %+v", v)
				}
			}
		})
	}
}
