# One warning rule's raising decision, without timers (docs/policy.md "Levels, thresholds and
# the state machine" with for_ms = 0): given the rule, the system's grade and the window's
# aggregate value, the highest level whose threshold is met: v >= T[L] for direction
# "above" (the default), v <= T[L] for "below"; a null threshold is a level the grade does
# not use. Thresholds come from data.airisk.rules (the default policy's rules keyed by id).
#
# Unrolled, highest level first: the fastest form tried under regorus (rego/variants/ holds
# the others: the levels met as a set + max(), a helper function per level, and a count of
# thresholds met). `cargo run --release --example variants` checks they agree and times
# them.
package airisk.level

import rego.v1

rule := data.airisk.rules[input.rule]

t := rule.thresholds[input.grade]

up if object.get(rule, "direction", "above") == "above"

level := "red" if {
	up
	th := t[3]
	th != null
	input.value >= th
}

else := "red" if {
	not up
	th := t[3]
	th != null
	input.value <= th
}

else := "orange" if {
	up
	th := t[2]
	th != null
	input.value >= th
}

else := "orange" if {
	not up
	th := t[2]
	th != null
	input.value <= th
}

else := "yellow" if {
	up
	th := t[1]
	th != null
	input.value >= th
}

else := "yellow" if {
	not up
	th := t[1]
	th != null
	input.value <= th
}

else := "blue" if {
	up
	th := t[0]
	th != null
	input.value >= th
}

else := "blue" if {
	not up
	th := t[0]
	th != null
	input.value <= th
}

else := "none"
