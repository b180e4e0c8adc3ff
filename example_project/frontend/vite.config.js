// Built into dist/ for the example project, which serves it at /app/. `npm run dev` serves it at
// http://localhost:5173/app/ and proxies the API steps and the stream socket to the Django server on :3000.
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

const django = 'http://127.0.0.1:3000'

export default defineConfig({
  base: '/app/',
  plugins: [react()],
  server: {
    proxy: {
      '/chat-messages': django,
      '/open-ai': django,
      '/motia/streams': { target: django, ws: true },
    },
  },
})
