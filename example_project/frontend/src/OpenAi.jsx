import { useState } from 'react'
import { useStreamItem } from '@motiadev/stream-client-react'
import { askOpenAi } from './api.js'

export function OpenAi() {
  const [prompt, setPrompt] = useState('')
  const [reply, setReply] = useState(null) // the reply's stream item reference, from POST /open-ai
  const onSubmit = async (e) => {
    e.preventDefault()
    setReply(await askOpenAi(prompt))
  }
  return (
    <section className="openai">
      <h2>Ask the model</h2>
      <form onSubmit={onSubmit}>
        <input aria-label="Prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        <button type="submit">Ask</button>
      </form>
      {reply && <Reply key={reply.groupId} groupId={reply.groupId} id={reply.id} />}
    </section>
  )
}

// The reply grows token by token: CallOpenAi sets the item again after each one.
function Reply({ groupId, id }) {
  const { data } = useStreamItem({ streamName: 'openai', groupId, id })
  return <p data-testid="reply">{data?.message ?? '…'}</p>
}
