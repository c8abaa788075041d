#!/usr/bin/env python3
"""
Transactions: the C{@transaction} decorator, C{async with transaction()},
nesting (savepoints), the C{afterCommit}/C{afterRollback} hooks and
retried transactions.

Run it with C{python examples/transactions.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.exceptions import TransactionError
from twistar.registry import Registry
from twistar.utils import gather, transaction

from support import recreateTables, sqliteMain

# What the afterCommit hook "sends"; a real application would send e-mail.
OUTBOX = []


class Account(DBObject):
    TABLENAME = "tx_accounts"


class Order(DBObject):
    TABLENAME = "tx_orders"

    def afterCommit(self):
        # Runs once the transaction that saved the order has committed (at
        # once when it was saved outside a transaction).
        OUTBOX.append(f"confirmation for order {self.item!r}")

    def afterRollback(self):
        OUTBOX.append(f"order {self.item!r} was rolled back")


Registry.register(Account, Order)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "tx_accounts": "id {pk}, owner VARCHAR(255), balance INTEGER",
    "tx_orders": "id {pk}, item VARCHAR(255), account_id INTEGER",
}


@transaction(isolation="SERIALIZABLE", timeout=30)
async def transfer(txn, sourceId, targetId, amount):
    """
    Move C{amount} between two accounts: both updates or neither.

    @param txn: the running transaction, given by C{@transaction}.
    """
    source = await Account.find(sourceId)
    target = await Account.find(targetId)
    source.balance -= amount
    target.balance += amount
    await source.save()
    await target.save()
    if source.balance < 0:
        raise ValueError(f"{source.owner} cannot pay {amount}")
    return source.balance


@transaction
async def placeOrder(txn, accountId, item):
    """
    Save an order; a savepoint when called inside another transaction.
    """
    order = await Order(item=item, account_id=accountId).save()
    if item == "unicorn":
        raise ValueError("out of unicorns")
    return order


@transaction(isolation="SERIALIZABLE", retry=5)
async def deposit(txn, accountId, amount):
    """
    Add C{amount} to an account: read its balance, then write it. When
    deposits run at once, the database may fail all but one of them (a
    serialization failure or a deadlock); C{retry} runs those again.
    """
    account = await Account.find(accountId)
    account.balance += amount
    await account.save()


async def balances():
    accounts = await Account.find(orderby="owner")
    return ", ".join(f"{account.owner}={account.balance}" for account in accounts)


async def items():
    return sorted(order.item for order in await Order.all())


async def run(echo=print):
    """
    Commit, roll back and nest transactions on the database of
    C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)
    del OUTBOX[:]
    alice = await Account(owner="alice", balance=100).save()
    bob = await Account(owner="bob", balance=20).save()

    echo("-- @transaction commits")
    left = await transfer(alice.id, bob.id, 30)
    echo(f"alice has {left} left; {await balances()}")

    echo("-- @transaction rolls back")
    try:
        await transfer(bob.id, alice.id, 500)
    except TransactionError as e:
        echo(f"failed: {e.__cause__}")
    echo(f"nothing changed: {await balances()}")

    echo("-- async with transaction()")
    async with transaction():
        await Order(item="book", account_id=alice.id).save()
        alice = await Account.find(alice.id)
        alice.balance -= 10
        await alice.save()
        echo(f"inside, before commit: outbox={OUTBOX}")
    echo(f"after commit: outbox={OUTBOX}")
    try:
        async with transaction():
            await Order(item="lamp", account_id=alice.id).save()
            raise KeyError("changed my mind")
    except KeyError as e:
        echo(f"the block's own exception goes on: {e!r}")
    echo(f"orders: {await items()}; outbox={OUTBOX}")
    del OUTBOX[:]

    echo("-- nesting: a failed inner transaction is a rolled back savepoint")

    @transaction
    async def shopping(txn):
        await placeOrder(alice.id, "pen")
        try:
            await placeOrder(alice.id, "unicorn")
        except TransactionError as e:
            echo(f"inner transaction failed: {e.__cause__}")
        await placeOrder(alice.id, "ink")

    await shopping()
    echo(f"orders: {await items()}")
    echo(f"outbox: {sorted(OUTBOX)}")

    echo("-- retry: three deposits at once, each counted once")
    await gather(deposit(bob.id, 1) for _ in range(3))
    echo(f"{await balances()}")


main = sqliteMain(run, "transactions")


if __name__ == "__main__":
    task.react(main)
