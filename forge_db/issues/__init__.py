"""Issues (``db.issues``) and their parts: ``comments``, ``labels``, ``milestones``,
``assignees``, ``links`` (dependencies and subtasks) and ``pins``."""

from .assignees import Assignees
from .comments import Comments
from .issues import Issues, Sort, State
from .labels import Labels
from .links import Links
from .milestones import Milestones
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
from .pins import Pins

__all__ = [
    "Assignees",
    "CloseReason",
    "Comment",
    "Comments",
    "CountDrift",
    "Issue",
    "IssueCounts",
    "IssueLinks",
    "IssueRef",
    "IssueSummary",
    "Issues",
    "Label",
    "LabelRef",
    "Labels",
    "Links",
    "Milestone",
    "Milestones",
    "Pins",
    "SearchHit",
    "Sort",
    "State",
    "UserRef",
]
