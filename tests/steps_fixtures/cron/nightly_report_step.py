"""An async cron step (handler(context), as in Motia) that emits a topic to an event step."""

config = {"type": "cron", "name": "NightlyReport", "cron": "30 2 * * *", "emits": ["cron.report"],
          "flows": ["cron-tests"], "description": "Nightly report"}


async def handler(context):
    await context.state.update("reports", "nightly", [{"type": "increment", "path": "runs"}])
    await context.emit({"topic": "cron.report", "data": {"trace": context.trace_id}})
