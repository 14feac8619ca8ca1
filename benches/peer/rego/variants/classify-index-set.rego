# Variant: the floors that hold as a set of indexes, then sorted back into policy order.
package airisk.classify

import rego.v1

c := data.airisk.policy.classification

grades := data.airisk.policy.grades

rank[g.id] := i if some i, g in grades

caps := [c.capabilities[x].score | some x in input.capabilities]

groups := [c.vulnerable_groups[x].score | some x in input.vulnerable_groups]

mitigations := [c.mitigations[x].score | some x in input.mitigations]

steps := [s.score | some s in c.scale; s.min_users <= input.users]

default scale_points := 0

scale_points := steps[count(steps) - 1] if count(steps) > 0

score := ((((((c.sectors[input.sector].score + sum(caps)) + c.data[input.data].score) + c.autonomy[input.autonomy].score) + scale_points) + sum(groups)) + sum(mitigations)) if {
	count(caps) == count(input.capabilities)
	count(groups) == count(input.vulnerable_groups)
	count(mitigations) == count(input.mitigations)
}

score_ranks := [i | some i, g in grades; i > 0; g.min_score <= score]

default score_rank := 0

score_rank := max(score_ranks) if count(score_ranks) > 0

caps_star := array.concat(input.capabilities, ["*"])

groups_star := array.concat(input.vulnerable_groups, ["*"])

held_ix contains i if {
	some i, f in c.floors
	w := f.when
	input.sector in object.get(w, "sectors", [input.sector])
	input.data in object.get(w, "data", [input.data])
	input.autonomy in object.get(w, "autonomy", [input.autonomy])
	input.users >= object.get(w, "min_users", 0)
	some x in caps_star
	x in object.get(w, "capabilities", ["*"])
	some y in groups_star
	y in object.get(w, "vulnerable_groups", ["*"])
}

held := [c.floors[i] | some i in sort(held_ix)]

grade_rank := max({score_rank} | {rank[f.grade] | some f in held})

result := {
	"grade": grades[grade_rank].id,
	"grade_rank": grade_rank,
	"score": score,
	"score_rank": score_rank,
	"floors": [f.id | some f in held],
}
