# Reads the guest console logs written by harness/init and judges them.
#
# Counts every leaf test case in the framed (K)TAP sections: a result line
# ("ok N name", "not ok N name") whose test had no subtests of its own. A
# "# SKIP" result is a skip, neither passed nor failed; a plan ("1..N")
# that got fewer results than it announced counts the missing ones as
# failures, and a test program that reported no case at all (a filter that
# matched nothing, no plan printed) is a failure. Kernel reports anywhere in
# a log (KASAN, UBSAN, lockdep, WARN, BUG, oops, panic, kmemleak) each count
# as one failure, and so does a guest that never reached the end of its plan.
#
# One log per boot, in the order given; the counts add up over all of them.
# Prints the failures and skips by name, then exactly "N passed, N failed".
# Exit status: 0 only when nothing failed and every log is complete.
#
# Variables: expect="kunit kselftest:iommufd …" lists the sections the plan
# asked for, a boot's list after another's separated by ";"; a section that
# is missing is a failure. labels=";canwbs" names the boots (none for the
# first here): a boot's sections, verdicts and reports carry "label/".
# xfail=FILE lists the cases of mainline's own kselftests (the sections
# kselftest:mainline_*) that are expected to fail, one per line as
# "fixture.variant.test # reason". Such a case that fails counts as passed
# and is shown as XFAIL; one that passes, skips or never runs is a failure
# (the list must stay true), and so is a line without a reason.

function strip(s) {
	sub(/\r$/, "", s)
	sub(/^\[ *[0-9]+\.[0-9]+\] /, "", s)
	return s
}

function depth(s,    n) {
	match(s, /^ */)
	n = RLENGTH
	return int(n / 4) + (n % 4 ? 1 : 0)
}

# One failure per call, or n for a plan that came up n results short.
function fail(what, n) {
	failed += (n > 0 ? n : 1)
	nfail++
	failures[nfail] = what
}

# Close the plan at depth d: compare what it announced with what came.
function close_plan(d, ctx,    missing) {
	if (plan[d] != "" && got[d] < plan[d]) {
		missing = plan[d] - got[d]
		sec_fail[section] += missing
		fail(ctx ": plan announced " plan[d] " results, got " got[d], missing)
	}
	plan[d] = ""
	got[d] = 0
}

function reset_section(    i) {
	for (i = 0; i < 16; i++) {
		plan[i] = ""
		got[i] = 0
		children[i] = 0
		subtest[i] = ""
	}
	cur_name[0] = ""
}

function result_line(s, d, ok,    name, directive, i) {
	name = s
	sub(/^ *(not )?ok [0-9]+ ?(- )?/, "", name)
	directive = ""
	if (match(name, / # .*$/)) {
		directive = substr(name, RSTART + 3)
		name = substr(name, 1, RSTART - 1)
	}
	# KUnit nests cases in suites: name them suite.case (.param).
	for (i = d; i >= 1; i--)
		if (subtest[i] != "")
			name = subtest[i] "." name
	got[d]++
	if (d > 0)
		children[d - 1] = 1
	# A test whose subtests were just reported is a parent, not a case.
	if (d > 0 && !ok)
		subfail[d] = 1
	if (children[d]) {
		children[d] = 0
		close_plan(d + 1, section ": " name)
		if (!ok && !subfail[d + 1])
			fail(section ": " name " (failed with no failing case)")
		subfail[d + 1] = 0
		return
	}
	close_plan(d + 1, section ": " name)
	if (directive ~ /^(SKIP|skip)/) {
		sec_skip[section]++
		skipped++
		skips[skipped] = section ": " name " (" directive ")"
	} else if (ok) {
		sec_pass[section]++
		passed++
	} else if (mainline && (name in listed)) {
		sec_xfail[section]++
		passed++
		nxfail++
		xfails[nxfail] = section ": " name " (" listed[name] ")"
	} else {
		sec_fail[section]++
		fail(section ": " name)
	}
	if (mainline)
		ran[name] = directive ~ /^(SKIP|skip)/ ? "skips" : ok ? "passes" : "fails"
}

# The expected-failure list: names to reasons; a line without one is bad.
function read_xfail(file,    l, name, reason) {
	while ((getline l < file) > 0) {
		if (l ~ /^[ \t]*(#|$)/)
			continue
		name = l
		sub(/[ \t].*/, "", name)
		reason = l
		if (!sub(/^[^ \t]+[ \t]+# */, "", reason) || reason == "")
			badlist[++nbadlist] = l
		listed[name] = reason
		listorder[++nlisted] = name
	}
	close(file)
}

# After the runs: every listed case must have run and failed.
function check_xfail(    i, name) {
	for (i = 1; i <= nbadlist; i++)
		fail("expected-fail list: \"" badlist[i] "\" has no \" # reason\"")
	for (i = 1; i <= nlisted; i++) {
		name = listorder[i]
		if (!(name in ran))
			fail("expected-fail list: " name " never ran")
		else if (ran[name] != "fails")
			fail("expected-fail list: " name " " ran[name] " (take it off the list)")
	}
}

# The verdicts on one boot's log, once it has been read.
function end_boot(    i, n, want) {
	# A section cut off by a crash or hang: what its plans announced and
	# never came counts as failed, as for a section that ended early.
	if (section != "")
		for (i = 15; i >= 0; i--)
			close_plan(i, section)
	section = ""
	n = split(boot_expect[boot], want, " ")
	for (i = 1; i <= n; i++)
		if (!((prefix want[i]) in seen))
			fail(prefix want[i] ": never ran")
	if (no_boot != "")
		fail(prefix "guest: never booted: " no_boot)
	else if (boot_timeout != "")
		fail(prefix "guest: the kernel did not reach /init within " boot_timeout " s (boot failure)")
	else if (run_timeout != "")
		fail(prefix "guest: still running after " run_timeout " s (hang)")
	else if (!done)
		fail(prefix "guest: did not reach the end of its plan (crash, hang or timeout)")
	if (qemu_exit != "")
		fail(prefix "qemu: exited with status " qemu_exit)
	if (!done)
		incomplete = 1
	if (init_seen != "" && done)
		timing[boot] = prefix "boot-to-init " init_seen " s, poweroff at " done_at " s (guest clock)"
	else if (init_seen != "")
		timing[boot] = prefix "boot-to-init " init_seen " s (guest clock)"
}

function start_boot() {
	boot++
	prefix = boot_label[boot] != "" ? boot_label[boot] "/" : ""
	section = ""
	init_seen = done_at = boot_timeout = run_timeout = qemu_exit = no_boot = ""
	done = 0
}

BEGIN {
	nboots = split(expect, boot_expect, ";")
	split(labels, boot_label, ";")
	boot = 0
	passed = failed = nfail = skipped = reports = nxfail = 0
	if (xfail != "")
		read_xfail(xfail)
}

FNR == 1 {
	if (boot > 0)
		end_boot()
	start_boot()
}

{
	line = strip($0)
}

line ~ /^@@@ cmdqv-init / {
	init_seen = $NF
	next
}

line ~ /^@@@ cmdqv-begin / {
	base = $3
	section = prefix base
	mainline = (base ~ /^kselftest:mainline_/)
	if (mainline)
		mainline_seen = 1
	sec_start = $4
	seen[section] = 1
	order[++nsections] = section
	quiet[section] = (base == "dmesg" || base == "kmemleak")
	reset_section()
	failed_before = failed
	next
}

line ~ /^@@@ cmdqv-end / {
	close_plan(0, section)
	rc = $4
	sub(/^rc=/, "", rc)
	if ($5 != "" && sec_start != "")
		sec_time[section] = $5 - sec_start
	# Expected failures make mainline's kselftests exit non-zero too.
	if (base ~ /^kselftest:/ && rc != 0 && failed == failed_before &&
	    !sec_xfail[section])
		fail(section ": exited with status " rc " and no failing case")
	# A program that ran nothing tested nothing (skipped cases did run)
	else if (base ~ /^kselftest:/ && failed == failed_before &&
		 !(sec_pass[section] + sec_skip[section] + sec_xfail[section]))
		fail(section ": reported no case")
	section = ""
	next
}

line ~ /^@@@ cmdqv-boot-timeout / {
	boot_timeout = $3
	next
}

line ~ /^@@@ cmdqv-timeout / {
	run_timeout = $3
	next
}

line ~ /^@@@ cmdqv-qemu-exit / {
	qemu_exit = $3
	next
}

line ~ /^@@@ cmdqv-no-boot / {
	no_boot = line
	sub(/^@@@ cmdqv-no-boot /, "", no_boot)
	next
}

line ~ /^@@@ cmdqv-done / {
	done = 1
	done_at = $3
	next
}

# A nested guest's console, echoed by the real-VMM stage as "# inner: ...":
# that kernel is the stage's client, and the stage judges its reports as a
# case of its own (inner_kernel_clean_N); they are not this boot's reports.
line ~ /^# inner: / { next }

# Kernel reports: anywhere, once each per boot (the console and the dmesg
# dump repeat each other).
line ~ /(^|: )(BUG|WARNING|INFO): |^UBSAN: |Kernel panic|^Internal error: |^Unable to handle kernel|kmemleak: [0-9]+ new suspected|^unreferenced object / {
	if (!((boot, line) in reported)) {
		reported[boot, line] = 1
		reports++
		report[reports] = prefix "kernel report: " line
	}
}

section == "" { next }

quiet[section] { next }

line ~ /^ *(KTAP|TAP) version/ { next }

line ~ /^ *# Subtest: / {
	d = depth(line)
	subtest[d] = line
	sub(/^ *# Subtest: /, "", subtest[d])
	next
}

line ~ /^ *1\.\.[0-9]+/ {
	d = depth(line)
	p = line
	sub(/^ *1\.\./, "", p)
	plan[d] = p + 0
	got[d] = 0
	next
}

line ~ /^ *ok [0-9]+/ { result_line(line, depth(line), 1); next }
line ~ /^ *not ok [0-9]+/ { result_line(line, depth(line), 0); next }

END {
	if (boot > 0)
		end_boot()
	# A boot whose log is missing altogether.
	while (boot < nboots) {
		start_boot()
		no_boot = "no console log"
		end_boot()
	}
	if (mainline_seen)
		check_xfail()
	for (i = 1; i <= reports; i++)
		fail(report[i])
	for (i = 1; i <= skipped; i++)
		print "SKIP " skips[i]
	for (i = 1; i <= nxfail; i++)
		print "XFAIL " xfails[i]
	for (i = 1; i <= nfail; i++)
		print "FAIL " failures[i]
	for (i = 1; i <= nsections; i++) {
		s = order[i]
		if (quiet[s])
			continue
		printf "%-32s %4d passed, %d failed, %d skipped", s, sec_pass[s], sec_fail[s], sec_skip[s]
		if (sec_xfail[s])
			printf ", %d expected-fail", sec_xfail[s]
		if (s in sec_time)
			printf " (%.1f s)", sec_time[s]
		printf "\n"
	}
	for (i = 1; i <= boot; i++)
		if (i in timing)
			print timing[i]
	print passed " passed, " failed " failed"
	exit failed > 0 || incomplete
}
