from support import make_repository, make_user
import pytest
from forge_db import ForgeDB

A="a"*40; B="b"*40

def test_probe(db: ForgeDB, conn) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    db.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=A)
    db.repositories.bookmarks.rename(repo.id, actor_id=owner.id, old_name="master", new_name="main")
    db.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=B)
    print("get master", db.repositories.bookmarks.get(repo.id, "master").targets)
    print("resolve master", db.repositories.bookmarks.resolve(repo.id, "master"))
    inactive = make_user(db)
    db.users.deactivate(inactive.id)
    db.issues.create(repo.id, actor_id=owner.id, title="t")
    for f in [lambda: db.collaboration.stars.toggle(repo.id, actor_id=inactive.id),
              lambda: db.collaboration.watches.set(repo.id, actor_id=inactive.id, level="watching"),
              lambda: db.collaboration.reactions.toggle(repo.id, actor_id=inactive.id, emoji="eyes", issue_number=1),
              lambda: db.issues.create(repo.id, actor_id=inactive.id, title="by inactive"),
              lambda: db.repositories.collaborators.list(repo.id, viewer_id=None),
              lambda: db.repositories.list_for_owner("nobody"),
              lambda: db.repositories.update(repo.id, actor_id=owner.id),
              ]:
        try: print("ok", f())
        except Exception as e: print("err", type(e).__name__, e, getattr(e, "field", None))
    for kw in [dict(required_status_contexts="ci"), dict(required_approvals=True), dict(land_min_role="read"), dict(required_status_contexts=["ci", "ci", "lint"])]:
        try: print("ok", db.repositories.protection.set(repo.id, actor_id=owner.id, pattern="p", **kw))
        except Exception as e: print("err", type(e).__name__, e, getattr(e, "field", None))
    for v in [True, 0, 2**63, "1", -1, None]:
        try: print(db.repositories.get_by_id(v))
        except Exception as e: print("err", type(e).__name__, e, getattr(e, "field", None))
    try: db.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="x", targets=A, expected_targets=A)
    except Exception as e: print("err", type(e).__name__, e, getattr(e, "field", None))
    try: db.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="x", targets=[])
    except Exception as e: print("err", type(e).__name__, e, getattr(e, "field", None))
    print(db.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="y", targets=[A, A]))
    print(db.repositories.list_for_viewer(viewer_id=owner.id))
