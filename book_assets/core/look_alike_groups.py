"""Book-level moves and holds of look-alike groups: mistakes that no pair shows on its own.

Renditions of one picture form a tight group of look-alikes (each other's nearest neighbours in
``pairing``'s sibling pass). Once every variation is placed by its own evidence, four patterns are the
book's, not any one pair's:

- a group split between its own drawing and a drawing that already holds another picture's group,
  its members there near coin flips between the two (``unite_split_groups``): they join the rest;
- a drawing left with none, or few, of its share while a group of unsure look-alikes leans
  elsewhere (``fill_empty_drawings``): the group that looks most like it moves there;
- after both, a group of unsure look-alikes every one of which sits on another picture's drawing
  (``hold_groups_with_no_drawing``): its drawing is most likely not in the book, so it is held;
- and a drawing holding a few variations, none of which looks like it by itself or was placed on it at
  even odds before the anchor pass (``hold_drawings_vouched_for_by_each_other``): they are sure of it
  only through each other, so they are held.

Only unsure variations move (none a reviewer placed, none a name or provenance decides), and they
keep their own probabilities: a moved pair stays flagged, and held while more likely wrong than right,
for a reviewer to confirm with one pairs.csv line; a held group's pairs are held whatever their odds.
The pair's signal says which move or hold it was (``GroupMove``), so the review panel can say why.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

# Both moves act only in a book whose drawings have at least this many variations each on average (with
# one each, an empty drawing is normal and a "group" is a pair), and never when the members would give up
# more than GROUP_MOVE_MAX_COST of log-probability each on average (a hundredfold).
MIN_VARIATIONS_PER_DRAWING = 2.0
GROUP_MOVE_MAX_COST = math.log(100.0)
# The split-group move (``unite_split_groups``): a drawing is another group's when that group has at least
# SPLIT_GROUP_OWNER_SHARE of a drawing's share (and two) surely placed on it; a group's own drawing holds at
# least SPLIT_GROUP_MIN_HOME of its members and is no other group's; the members that move take along the
# variations in no group beside them SPLIT_GROUP_FOLLOWERS of whose look-alikes (four of five) are the group's.
# On 50 photo books (fit half seeds 4-7, eval half seed 1; 5,000 variations): 4,909 -> 4,925 right, errors
# 91 -> 75, wrong pairs printed 34 -> 17 (without followers: 4,919 and 23). In the same books made uneven (one
# drawing in three keeping none of its renditions, or taken out with its renditions left as strays: ~20,000
# pairs each): 18,616 -> 18,664 and 20,229 -> 20,297 right (57 and 91 put right, 9 and 23 wrong: held, not
# printed), printed wrong 611 -> 552 and 1,016 -> 926. The 100 x 1,000 generated book: no move.
SPLIT_GROUP_OWNER_SHARE = 0.25
SPLIT_GROUP_MIN_HOME = 2
SPLIT_GROUP_FOLLOWERS = 0.8
# The empty-drawing move (``fill_empty_drawings``): a drawing left with at most EMPTY_DRAWING_SHARE_LEFT of a
# drawing's share takes the group of unsure look-alikes (at least EMPTY_DRAWING_MIN_GROUP, and
# EMPTY_DRAWING_GROUP_SHARE of a drawing's share) that looks most like it. On the 50 photo books the group
# chosen for an empty drawing was its own renditions all 7 times (7-12 of them at costs 1.0-4.0): 64 more
# pairs right. In books where one drawing truly has 0, 1 or 2 variations (its others taken out), 2-3 right
# pairs of ~11,000 moved wrongly (held for review, not printed wrongly) while 83-93 moved rightly. Taking
# its followers along too: 4,925 -> 4,932 right on the 50 books (printed wrong 17 -> 15), and 18,664 -> 18,672
# and 20,297 -> 20,316 in the uneven ones above.
EMPTY_DRAWING_SHARE_LEFT = 0.25
EMPTY_DRAWING_MIN_GROUP = 3
EMPTY_DRAWING_GROUP_SHARE = 0.5
# The no-drawing hold (``hold_groups_with_no_drawing``): a group of at least NO_DRAWING_MIN_GROUP unsure look-alikes
# each on a drawing another group holds surely, after both moves. In the 50 photo books (fit half seeds 4-7, eval
# half seed 1) with one drawing in three taken out and its renditions left behind (~21,500 pairs), 426 of those
# renditions were printed on other drawings: this holds 215 of them, 14 distractors and 3 other wrong pairs, and
# no pair that was printed right; in the books as they are, 4 distractors printed wrong and nothing else; in three
# generated-corpus sets (3,000 pairs), 8 pairs held already (below HOLD_BELOW) and nothing printed; in the
# 100 x 1,000 generated book, nothing.
NO_DRAWING_MIN_GROUP = 3
# The each-other hold (``hold_drawings_vouched_for_by_each_other``): a drawing on which the book would print fewer
# than EACH_OTHER_MAX_SHARE of a drawing's share, none of them a reviewer's or named, none placed on it with
# EACH_OTHER_FIRST_BELOW or more by the first solve (before the anchor pass), none liking it by its looks alone
# EACH_OTHER_LOOKS_BELOW log-odds (20 to 1) over "none of these". In 20 photo books (fit half seeds 4-5) made uneven,
# one drawing in three keeping none of its renditions (7,792 pairs): wrong pairs printed unflagged 50 -> 17 (all on
# the empty drawing, at 0.95-0.999: distractors, and another drawing's renditions), printed wrong 167 -> 116, flagged
# 1,616 -> 1,650; keeping one or two of them: unflagged wrong 46 -> 41 and 38 -> 31. With one drawing in three taken
# out and its renditions left as strays: 25 right pairs printed unflagged are held (of 8,592), nothing printed wrong
# changes. In the 50 photo books as they are: 5 right pairs printed unflagged are held (of 5,000), nothing else
# changes; in three generated sets (3,000 pairs) and the 100 x 1,000 generated book, nothing.
EACH_OTHER_MAX_SHARE = 0.7
EACH_OTHER_FIRST_BELOW = 0.5
EACH_OTHER_LOOKS_BELOW = 3.0


class GroupMove(StrEnum):
    """Why the book moved a variation, or held it with its look-alikes; the value is the pair's signal."""

    SPLIT_GROUP = "look-alikes"        # joined the rest of its look-alikes on their drawing
    EMPTY_DRAWING = "empty-drawing"    # proposed for a drawing that had few or no variations
    NO_DRAWING = "no-drawing"          # held: it and its look-alikes sit on other pictures' drawings, none on one of theirs
    EACH_OTHER = "each-other"          # held: it and the few on its drawing are sure of it only through each other

    @property
    def holds(self) -> bool:
        """The book's pattern, not the pair's odds, says the pair is more likely wrong than right: it is held."""
        return self in (GroupMove.NO_DRAWING, GroupMove.EACH_OTHER)


@dataclass(frozen=True)
class FirstSolve:
    """Each variation as the first solve saw it, before the anchor pass: the drawing it was placed on (-1: none)
    and that drawing's probability; and its looks alone against "none of these" (G x D log-odds, before the
    sibling and anchor passes pooled anything)."""

    assigned: np.ndarray
    probability: np.ndarray
    looks_alone: np.ndarray


@dataclass(frozen=True)
class Placements:
    """What the moves read and change: each variation's log-probability of each drawing (G x D), the
    drawing the solve gave it (-1: none; changed in place by the moves), which variations are surely placed
    (by a reviewer, or at the review threshold or above), which were placed by looks alone (not a reviewer's,
    not named by a file name or provenance), and the first solve (None: the each-other hold does not apply)."""

    log_posterior: np.ndarray
    assigned: np.ndarray
    sure: np.ndarray
    by_looks: np.ndarray
    first: FirstSolve | None = None

    @property
    def movable(self) -> np.ndarray:
        """The variations the book may move: placed by looks alone, and unsure."""
        return self.by_looks & ~self.sure

    def kept(self) -> np.ndarray:
        return kept_log_probability(self.log_posterior, self.assigned)

    def share(self) -> float:
        """Variations per drawing, on average."""
        return self.log_posterior.shape[0] / self.log_posterior.shape[1]


def kept_log_probability(log_posterior: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    """G: the log-probability of the drawing each variation is on (-inf where it is on none)."""
    on = np.maximum(assigned, 0)
    return np.where(assigned >= 0, log_posterior[np.arange(on.size), on], -np.inf)


def move_groups(placements: Placements, neighbours: np.ndarray | None, capacity: int,
                hold_below: float) -> dict[int, GroupMove]:
    """Both moves, split groups first (a group with a foothold on its drawing goes there before an empty
    drawing could claim it), then both holds; returns each moved or held row's move. ``hold_below``: the
    probability below which a pair is held anyway (the each-other hold reads the pairs the book would print)."""
    n_gen, n_drw = placements.log_posterior.shape
    if neighbours is None or n_drw < 2 or n_gen < MIN_VARIATIONS_PER_DRAWING * n_drw:
        return {}
    moved = dict.fromkeys(unite_split_groups(placements, neighbours, capacity).tolist(), GroupMove.SPLIT_GROUP)
    moved.update(dict.fromkeys(fill_empty_drawings(placements, neighbours, capacity).tolist(),
                               GroupMove.EMPTY_DRAWING))
    no_drawing = hold_groups_with_no_drawing(placements, neighbours)
    moved.update(dict.fromkeys(no_drawing.tolist(), GroupMove.NO_DRAWING))
    printed = placements.kept() >= math.log(hold_below)
    printed[no_drawing] = False
    moved.update(dict.fromkeys(hold_drawings_vouched_for_by_each_other(placements, printed).tolist(),
                               GroupMove.EACH_OTHER))
    return moved


def unite_split_groups(placements: Placements, neighbours: np.ndarray, capacity: int) -> np.ndarray:
    """Move the unsure members of a look-alike group that sit on another group's drawing to the group's
    own drawing; returns the rows moved.

    When a child's drawing looks like little (an outline on white paper), its renditions' evidence can
    tie between it and a drawing that looks like more: some land on each, coin flips. The drawing that
    already holds another picture's group surely is the wrong one for them: the group's own drawing is
    the one holding at least SPLIT_GROUP_MIN_HOME of it and no other group (the most, if several), within
    ``capacity`` and GROUP_MOVE_MAX_COST. The members that move take their followers along
    (``_followers_on``)."""
    assigned = placements.assigned
    nothing = np.zeros(0, dtype=np.int64)
    groups = look_alike_groups(assigned >= 0, neighbours, smallest=2)
    if not groups:
        return nothing
    owners = _drawing_owners(groups, placements)
    in_a_group, movable = _in_any(groups, assigned.size), placements.movable
    kept, counts = placements.kept(), np.bincount(assigned[assigned >= 0], minlength=placements.log_posterior.shape[1])
    moved = []
    for at, members in enumerate(groups):
        on = Counter(assigned[members].tolist())
        homes = [(count, drawing) for drawing, count in on.items()
                 if owners.get(drawing, at) == at and count >= SPLIT_GROUP_MIN_HOME]
        if not homes:
            continue
        home = max(homes)[1]
        elsewhere = np.array([owners.get(int(drawing), at) != at for drawing in assigned[members]])
        away = members[elsewhere & movable[members]]
        if away.size:
            away = np.concatenate([away, _followers_on(set(assigned[away].tolist()), members, in_a_group,
                                                       neighbours, placements)])
        if (away.size == 0 or counts[home] + away.size > capacity
                or float(np.mean(kept[away] - placements.log_posterior[away, home])) > GROUP_MOVE_MAX_COST):
            continue
        np.subtract.at(counts, assigned[away], 1)
        counts[home] += away.size
        assigned[away] = home
        moved.append(away)
    return np.concatenate(moved) if moved else nothing


def hold_groups_with_no_drawing(placements: Placements, neighbours: np.ndarray) -> np.ndarray:
    """The members of each group of at least NO_DRAWING_MIN_GROUP unsure, movable look-alikes every one of
    which sits on a drawing another group holds surely (``_drawing_owners``): the rows to hold.

    Renditions of a picture whose drawing is not in the book (not uploaded yet, or rejected) are as alike
    as any picture's, and each leans, unsure, to whichever drawing it resembles a little; a drawing already
    holds its own renditions surely, so a group with no drawing of its own, after both moves, is most likely
    from none of them. Their pairs are held (not printed) for a reviewer, who may place them or say "none"."""
    assigned = placements.assigned
    groups = look_alike_groups(assigned >= 0, neighbours, smallest=2)     # as the split-group move sees owners
    owners, movable = _drawing_owners(groups, placements), placements.movable
    held = [members for at, members in enumerate(groups)
            if members.size >= NO_DRAWING_MIN_GROUP and movable[members].all()
            and all(owners.get(drawing, at) != at for drawing in assigned[members].tolist())]
    return np.concatenate(held) if held else np.zeros(0, dtype=np.int64)


def hold_drawings_vouched_for_by_each_other(placements: Placements, printed: np.ndarray) -> np.ndarray:
    """The variations the book would print (``printed``) on each drawing where they are fewer than
    EACH_OTHER_MAX_SHARE of a drawing's share, all placed by looks alone, none of which looks like it by itself
    (EACH_OTHER_LOOKS_BELOW over "none of these") or was placed on it by the first solve with
    EACH_OTHER_FIRST_BELOW or more: the rows to hold.

    A drawing whose renditions are not in the book (not uploaded yet) still draws the few variations that lean
    to it a little, distractors or another picture's renditions; they are each other's look-alikes, so in the
    anchor pass the surest of them speak for the drawing to the rest, and all come out sure of it (0.95-0.999)
    though none was before. A drawing's own renditions are as many as any drawing's, and some of them look
    like it, or were placed on it before they heard each other."""
    nothing = np.zeros(0, dtype=np.int64)
    first, by_looks = placements.first, placements.by_looks
    if first is None:
        return nothing
    assigned = placements.assigned
    on = np.maximum(assigned, 0)
    rows = np.flatnonzero((assigned >= 0) & printed)
    alone = first.looks_alone[rows, on[rows]] >= EACH_OTHER_LOOKS_BELOW
    first_here = (first.assigned[rows] == assigned[rows]) & (first.probability[rows] >= EACH_OTHER_FIRST_BELOW)
    vouched = ~by_looks[rows] | alone | first_here    # by a reviewer or a name, its own looks, or the first solve
    n_drw = placements.log_posterior.shape[1]
    few = np.bincount(assigned[rows], minlength=n_drw) < EACH_OTHER_MAX_SHARE * placements.share()
    supported = np.bincount(assigned[rows], weights=vouched, minlength=n_drw) > 0
    return rows[few[assigned[rows]] & ~supported[assigned[rows]]]


def _in_any(groups: list[np.ndarray], size: int) -> np.ndarray:
    """A mask of ``size`` variations: which are members of one of ``groups``."""
    members = np.zeros(size, dtype=bool)
    if groups:
        members[np.concatenate(groups)] = True
    return members


def _followers_on(drawings: set[int], members: np.ndarray, in_a_group: np.ndarray, neighbours: np.ndarray,
                  placements: Placements) -> np.ndarray:
    """The movable variations in no group, on one of ``drawings``, at least SPLIT_GROUP_FOLLOWERS of whose
    look-alikes are ``members``: renditions of the group's picture that no mutual link took in (their
    look-alikes do not count them among theirs), stranded beside the members that move (either move)."""
    rows = np.flatnonzero(placements.movable & ~in_a_group & np.isin(placements.assigned, sorted(drawings)))
    inside = np.isin(neighbours[rows], members).sum(axis=1)
    return rows[inside >= SPLIT_GROUP_FOLLOWERS * neighbours.shape[1]]


def _drawing_owners(groups: list[np.ndarray], placements: Placements) -> dict[int, int]:
    """Drawing -> the group (its index in ``groups``) with the most members surely placed on it, for the
    drawings where that is at least SPLIT_GROUP_OWNER_SHARE of a drawing's share (and two)."""
    enough = max(2, math.ceil(SPLIT_GROUP_OWNER_SHARE * placements.share()))
    sure_on: dict[int, Counter] = {}
    for at, members in enumerate(groups):
        for drawing in placements.assigned[members[placements.sure[members]]].tolist():
            sure_on.setdefault(drawing, Counter())[at] += 1
    owners = {}
    for drawing, by_group in sure_on.items():
        at, count = min(by_group.items(), key=lambda item: (-item[1], item[0]))    # the most; a tie: the first
        if count >= enough:
            owners[drawing] = at
    return owners


def fill_empty_drawings(placements: Placements, neighbours: np.ndarray, capacity: int) -> np.ndarray:
    """Give a drawing the solve left without variations (or nearly) the group of look-alike variations
    that fits no drawing surely and looks most like it; returns the rows moved.

    Renditions of one picture form a tight group of look-alikes; when the child's drawing resembles
    none of them much, each leans to some other drawing (or all to one that has its own renditions
    already), and their drawing is left with none, or one or two. A drawing holding at most
    EMPTY_DRAWING_SHARE_LEFT of a drawing's share is that story: it takes the group of unsure, movable
    look-alikes (at least EMPTY_DRAWING_MIN_GROUP and EMPTY_DRAWING_GROUP_SHARE of a drawing's share, at most
    ``capacity``) that looks most like it, unless its members would give up more than GROUP_MOVE_MAX_COST
    of log-probability on average; it takes its followers along (``_followers_on``), capacity allowing.
    """
    log_posterior, assigned = placements.log_posterior, placements.assigned
    n_drw = log_posterior.shape[1]
    nothing = np.zeros(0, dtype=np.int64)
    at_most = math.floor(EMPTY_DRAWING_SHARE_LEFT * placements.share())
    empty = set(np.flatnonzero(np.bincount(assigned[assigned >= 0], minlength=n_drw) <= at_most).tolist())
    if not empty:
        return nothing
    kept = placements.kept()
    smallest = max(EMPTY_DRAWING_MIN_GROUP, math.ceil(EMPTY_DRAWING_GROUP_SHARE * placements.share()))
    groups = [members for members in look_alike_groups(placements.movable & (assigned >= 0), neighbours, smallest)
              if members.size <= capacity]
    # Most alike (group, empty drawing) first: each drawing takes at most one group, each group moves once.
    choices = sorted((-float(np.mean(log_posterior[members, drawing])), drawing, at)
                     for at, members in enumerate(groups) for drawing in sorted(empty))
    in_a_group = _in_any(groups, assigned.size)
    moved, taken = [], set()
    for _, drawing, at in choices:
        members = groups[at]
        if drawing not in empty or at in taken or float(
                np.mean(kept[members] - log_posterior[members, drawing])) > GROUP_MOVE_MAX_COST:
            continue
        followers = _followers_on(set(assigned[members].tolist()), members, in_a_group, neighbours, placements)
        if members.size + followers.size <= capacity:
            members = np.concatenate([members, followers])
        assigned[members] = drawing
        moved.append(members)
        empty.discard(drawing)
        taken.add(at)
    return np.concatenate(moved) if moved else nothing


def look_alike_groups(among: np.ndarray, neighbours: np.ndarray, smallest: int) -> list[np.ndarray]:
    """The groups of look-alikes among the rows ``among`` marks: the rows linked as each other's
    neighbours (``neighbours``: G x k rows), each cut to its core (``group_core``), at least ``smallest``
    strong, in the order of their first row."""
    n_gen = neighbours.shape[0]
    rows = np.arange(n_gen)
    links = np.repeat(rows, neighbours.shape[1]), neighbours.ravel()
    kept = among[links[0]] & among[links[1]]
    linked = sparse.csr_matrix((np.ones(int(kept.sum())), (links[0][kept], links[1][kept])), shape=(n_gen, n_gen))
    count, labels = connected_components(linked.multiply(linked.T), directed=False)
    components = np.split(np.argsort(labels, kind="stable"), np.cumsum(np.bincount(labels, minlength=count))[:-1])
    cores = (group_core(members[among[members]], neighbours) for members in components)
    return [core for core in cores if core.size >= smallest]


def group_core(members: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """The members of a group of look-alikes at least half of whose own look-alikes are in it: one
    mutual link does not carry a variation whose other look-alikes are all another drawing's."""
    core = members
    while core.size:
        inside = np.isin(neighbours[core], core).sum(axis=1) * 2 >= neighbours.shape[1]
        if inside.all():
            break
        core = core[inside]
    return core
