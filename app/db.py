"""The database: metadata conventions, the engine built in the app's lifespan, and the one
transaction per request that route handlers share through `DbSession`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func, inspect
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import Field, SQLModel

from app.clock import utcnow
from app.errors import ProblemError
from app.settings import Settings

# Every constraint gets a predictable name, so migrations can refer to it and a violation can be
# mapped to an error code by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata
metadata.naming_convention = NAMING_CONVENTION


def id_field(**kwargs: Any) -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True, sa_type=PG_UUID(as_uuid=True), **kwargs)


def created_at_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


def timestamp_field(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_type=DateTime(timezone=True),
        nullable=nullable,
        index=index,
    )


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def from_settings(cls, settings: Settings, **engine_kwargs: Any) -> Database:
        engine = create_async_engine(
            settings.async_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            connect_args={
                "server_settings": {
                    "application_name": "parkshare",
                    "statement_timeout": str(settings.database_statement_timeout_ms),
                    "timezone": "UTC",
                }
            },
            # A failed statement's message would otherwise carry its parameters (e-mails, plates,
            # house numbers) into the error log.
            hide_parameters=True,
            **engine_kwargs,
        )
        event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
        return cls(engine=engine, sessionmaker=make_sessionmaker(engine))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed (a restart, an idle timeout, a terminated
    backend) is replaced before a request gets it.

    asyncpg notices the closed socket by itself, so this costs no round trip, unlike
    `pool_pre_ping`, which sends BEGIN, a query and ROLLBACK at every checkout: a third of the
    statements of a small request. The pool retries the checkout with a fresh connection."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the database server closed this pooled connection")


_Model = TypeVar("_Model", bound=SQLModel)


def as_row(model: type[_Model], **values: Any) -> _Model:
    """An instance of a table model for a row that this request inserts with its own SQL (a new
    booking and its event, on the booking hot path), built the way SQLAlchemy builds one it loads:
    the values go straight into the instance, the fields not given get their defaults.

    SQLModel's constructor sets each field through the ORM's instrumentation, which records it as
    a change to flush: 80 µs for a booking, against 3 µs here (docs/bookings.md). Neither validates
    the values of a table model. The instance is in no session and records no changes: the row is
    written by the caller's statement, not by a flush."""
    if model.__sqlmodel_relationships__:
        # The constructor sets those too; no model built this way has any.
        raise TypeError(f"{model.__name__} has relationships, which as_row does not set")
    mapper = inspect(model)
    if not mapper.configured:
        # Before the process's first query: the attributes would not read yet.
        configure_mappers()
    instance: _Model = mapper.class_manager.new_instance()
    fields = instance.__dict__
    for name, field in model.model_fields.items():
        if name in values:
            fields[name] = values[name]
        elif not field.is_required():
            fields[name] = field.get_default(call_default_factory=True)
    unknown = values.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    # What SQLModel's constructor leaves on a table model besides its fields.
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    return instance


def as_loaded(session: AsyncSession, model: type[_Model], row: Row) -> _Model:
    """An instance of a table model for a row this request read with its own SQL, in `session`
    as if the session had loaded it: persistent, with no changes, so that what the request
    changes on it is flushed as an UPDATE like on any loaded instance. `row` has every column of
    the model (a Record of `select` of them all). An instance of the same row already in the
    session is returned as it is, as a query would return it."""
    [key] = inspect(model).primary_key
    found = session.identity_map.get(identity_key(model, row[key.name]))
    if found is not None:
        loaded: _Model = found
        return loaded
    instance = as_row(model, **{name: row[name] for name in model.model_fields})
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def make_sessionmaker(bind: Any, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: responses are built from the objects after the commit.
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False, **kwargs)


class Row(Protocol):
    """A row read by column name: an asyncpg `Record` (which is no `Mapping`) or a dict."""

    def __getitem__(self, key: str, /) -> Any: ...


async def raw_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside the session's transaction, which still
    commits or rolls back everything done on it.

    For the few statements of the hottest path (a booking: lock the spot, read its calendar,
    insert): there SQLAlchemy's execution machinery costs about 250 µs of CPU per statement and
    asyncpg's own call about 50 µs (docs/bookings.md, "Throughput")."""
    known: asyncpg.Connection | None = session.info.get(_RAW)
    # Kept until the session's transaction ends (`_forget_raw`): finding it again through the
    # session cost 23 µs a call, and a booking asks four times. Not while its transaction is gone
    # before the session's has ended (a failed flush has rolled it back): the session then refuses
    # as it always did (`PendingRollbackError`), instead of statements running outside a transaction.
    if known is not None and known.is_in_transaction():
        return known
    connection = await session.connection()
    # SQLAlchemy's asyncpg adapter (typed as a plain DB-API connection).
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    raw = adapted.driver_connection
    # SQLAlchemy types the driver's connection as Optional[Any]; a checked-out one of this engine
    # is asyncpg's.
    assert isinstance(raw, asyncpg.Connection)
    if not raw.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN with the session's first statement; a request
        # whose first statement is raw (every signed-in one: the sign-in lookup) has it sent now,
        # the way the adapter would, so that the session owns the transaction and its commit or
        # rollback ends it. Through the adapter's own method: a statement sent through SQLAlchemy
        # just to open the transaction cost a round trip and 0.1 ms of CPU more
        # (tests/test_db.py checks that the session still owns it).
        try:
            await adapted._start_transaction()
        except adapted.dbapi.Error:
            # Sent again through SQLAlchemy, where it fails the same way but is handled as its
            # own: a lost connection invalidated, the error one the app answers (503 while the
            # database is down), not the adapter's own exception.
            await connection.exec_driver_sql("select")
    session.info[_RAW] = raw
    return raw


_RAW = "parkshare.raw_connection"


@event.listens_for(Session, "after_transaction_end")
def _forget_raw(session: Session, transaction: SessionTransaction) -> None:
    # The connection goes back to the pool with the session's transaction (a savepoint's end
    # keeps it).
    if transaction.parent is None:
        session.info.pop(_RAW, None)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back when it raises.

    The dependency has scope "function", so the commit finishes before the response is sent and a
    2xx answer always means the write is durable.
    """
    database: Database = request.app.state.db
    async with database.sessionmaker() as session:
        try:
            yield session
        except ProblemError as exc:
            if exc.keeps_writes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]
# The same transaction for a route that FastAPI does not solve (`app.bookings.direct`).
request_session = asynccontextmanager(_request_session)
