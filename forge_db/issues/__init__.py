"""Issues: numbering, lists, search, comments, labels, milestones, assignees, links, pins."""

from ..query import R
from .comments import IssueComments
from .core import IssueCore, Sort, State
from .labels import IssueLabels
from .links import IssueGraph
from .models import (
    CloseReason,
    Comment,
    CountDrift,
    Issue,
    IssueCounts,
    IssueLinks,
    IssueRef,
    IssueSummary,
    Label,
    LabelRef,
    Milestone,
    SearchHit,
    UserRef,
)

__all__ = [
    "CloseReason",
    "Comment",
    "CountDrift",
    "Issue",
    "IssueCounts",
    "IssueLinks",
    "IssueRef",
    "IssueSummary",
    "Issues",
    "Label",
    "LabelRef",
    "Milestone",
    "SearchHit",
    "Sort",
    "State",
    "UserRef",
]


class Issues(IssueCore[R], IssueComments[R], IssueLabels[R], IssueGraph[R]):
    """``db.issues``: every issue operation, one namespace assembled from its parts."""

    __slots__ = ()
